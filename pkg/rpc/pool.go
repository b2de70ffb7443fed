package rpc

import (
	"fmt"
	"sync"
)

// Pool is a server's worker pool with libvirt's knobs: min/max ordinary
// workers plus priority workers that take only priority jobs (so that a
// destroy can get through while every ordinary worker is stuck). Its
// figures are what virt-admin srv-threadpool-info shows.
type Pool struct {
	mu       sync.Mutex
	cond     *sync.Cond // ordinary workers wait here
	prioCond *sync.Cond // priority workers wait here
	queue    []poolJob
	min, max int
	prio     int
	n, free  int // ordinary workers
	nPrio    int
	freePrio int
	closed   bool
}

type poolJob struct {
	fn       func()
	priority bool
}

// PoolStats mirrors the typed parameters of
// SERVER_GET_THREADPOOL_PARAMETERS.
type PoolStats struct {
	MinWorkers, MaxWorkers, Workers, FreeWorkers, PrioWorkers, JobQueueDepth uint
}

// NewPool starts min ordinary workers and prio priority workers.
func NewPool(min, max, prio uint) *Pool {
	p := &Pool{min: int(min), max: int(max), prio: int(prio)}
	p.cond = sync.NewCond(&p.mu)
	p.prioCond = sync.NewCond(&p.mu)
	p.mu.Lock()
	for i := 0; i < p.min; i++ {
		p.spawn(false)
	}
	for i := 0; i < p.prio; i++ {
		p.spawn(true)
	}
	p.mu.Unlock()
	return p
}

// spawn starts a worker; p.mu must be held.
func (p *Pool) spawn(priority bool) {
	if priority {
		p.nPrio++
	} else {
		p.n++
	}
	go p.worker(priority)
}

func (p *Pool) worker(priority bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		// Workers above the (possibly lowered) limit retire.
		idx := p.next(priority)
		if !priority && p.n > p.max || priority && p.nPrio > p.prio || p.closed && idx < 0 {
			if priority {
				p.nPrio--
			} else {
				p.n--
			}
			p.wakeAll()
			return
		}
		if idx < 0 {
			if priority {
				p.freePrio++
				p.prioCond.Wait()
			} else {
				p.free++
				p.cond.Wait()
			}
			if priority {
				p.freePrio--
			} else {
				p.free--
			}
			continue
		}
		job := p.queue[idx]
		p.queue = append(p.queue[:idx], p.queue[idx+1:]...)
		p.mu.Unlock()
		job.fn()
		p.mu.Lock()
	}
}

// next picks the job a worker should run: ordinary workers take the
// oldest job, priority workers only priority jobs.
func (p *Pool) next(priority bool) int {
	for i, j := range p.queue {
		if !priority || j.priority {
			return i
		}
	}
	return -1
}

// Submit queues fn. A new ordinary worker is started when none is free
// and the maximum allows it.
func (p *Pool) Submit(fn func(), priority bool) {
	p.mu.Lock()
	p.queue = append(p.queue, poolJob{fn: fn, priority: priority})
	if p.free == 0 && p.n < p.max {
		p.spawn(false)
	}
	p.cond.Signal()
	if priority {
		p.prioCond.Signal()
	}
	p.mu.Unlock()
}

// Stats reports the pool's figures.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{
		MinWorkers:    uint(p.min),
		MaxWorkers:    uint(p.max),
		Workers:       uint(p.n),
		FreeWorkers:   uint(p.free),
		PrioWorkers:   uint(p.nPrio),
		JobQueueDepth: uint(len(p.queue)),
	}
}

// SetLimits changes the limits; negative values leave a limit as it is.
// Like libvirt it refuses a minimum above the maximum.
func (p *Pool) SetLimits(min, max, prio int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	newMin, newMax, newPrio := p.min, p.max, p.prio
	if min >= 0 {
		newMin = min
	}
	if max >= 0 {
		newMax = max
	}
	if prio >= 0 {
		newPrio = prio
	}
	if newMax < 1 {
		return fmt.Errorf("maxWorkers must be greater than 0")
	}
	if newMin > newMax {
		return fmt.Errorf("minWorkers (%d) must be less or equal to maxWorkers (%d)", newMin, newMax)
	}
	p.min, p.max, p.prio = newMin, newMax, newPrio
	for p.n < p.min {
		p.spawn(false)
	}
	for p.nPrio < p.prio {
		p.spawn(true)
	}
	p.wakeAll()
	return nil
}

func (p *Pool) wakeAll() {
	p.cond.Broadcast()
	p.prioCond.Broadcast()
}

// Close retires every worker once the queue is drained.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.wakeAll()
	p.mu.Unlock()
}
