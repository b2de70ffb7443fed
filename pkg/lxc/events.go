package lxc

import (
	"sync"

	"github.com/virtlxcd/virtlxcd/pkg/domain"
)

// bus delivers domain events to subscribers in the order they happened,
// from its own goroutine, so that emitting never waits for a subscriber
// and a subscriber may call back into the driver.
type bus struct {
	mu     sync.Mutex
	subs   map[uint64]func(domain.Event)
	next   uint64
	queue  []domain.Event
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func newBus() *bus {
	b := &bus{subs: map[uint64]func(domain.Event){}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *bus) subscribe(fn func(domain.Event)) func() {
	b.mu.Lock()
	b.next++
	id := b.next
	b.subs[id] = fn
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}
}

func (b *bus) emit(ev domain.Event) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.queue = append(b.queue, ev)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *bus) lifecycle(ref domain.Ref, event, detail int32) {
	b.emit(domain.Event{ID: domain.EventIDLifecycle, Dom: ref, Event: event, Detail: detail})
}

func (b *bus) run() {
	defer close(b.done)
	for {
		select {
		case <-b.wake:
			b.drain()
		case <-b.stop:
			b.drain()
			return
		}
	}
}

func (b *bus) drain() {
	for {
		b.mu.Lock()
		evs := b.queue
		b.queue = nil
		fns := make([]func(domain.Event), 0, len(b.subs))
		for _, fn := range b.subs {
			fns = append(fns, fn)
		}
		b.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, ev := range evs {
			for _, fn := range fns {
				fn(ev)
			}
		}
	}
}

// close delivers what is queued, then stops the dispatcher.
func (b *bus) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
}
