package bench

import (
	"os"
	"sync"
	"testing"

	libvirt "github.com/digitalocean/go-libvirt"
)

// rpcWorkloads are issue 2's calls, each run on both daemons.
var rpcWorkloads = []struct {
	key, label string
	run        func(b *testing.B, d *daemon)
}{
	{"connect", "connect+open+close", benchConnect},
	{"version1", "ConnectGetVersion, 1 client", func(b *testing.B, d *daemon) { benchVersion(b, d, 1) }},
	{"version8", "ConnectGetVersion, 8 clients", func(b *testing.B, d *daemon) { benchVersion(b, d, 8) }},
}

// BenchmarkRPC is issue 2: the connection and call rate of both daemons
// under the same go-libvirt client, and their idle size.
func BenchmarkRPC(b *testing.B) {
	pair := startPair(b)
	rep := newReport("RPC: go-libvirt calls per second and daemon RSS")
	rep.declare("rss-idle", "daemon RSS, idle after start", "MB", oursAtMost(10))
	for _, d := range pair {
		rep.set("rss-idle", d.name, d.rssMB())
	}
	for _, w := range rpcWorkloads {
		rep.declare(w.key, w.label, "calls/s", ratioAtLeast(2))
		rep.declareCost(w.key)
		for range rounds {
			for _, d := range pair {
				v, c, ran := throughput(b, w.key+"/"+d.name, d, func(b *testing.B) { w.run(b, d) })
				if ran {
					rep.best(w.key, d.name, v, true)
					rep.bestCost(w.key, d.name, c)
				}
			}
		}
	}
	rep.declare("rss-after", "daemon RSS after the workloads", "MB", info)
	for _, d := range pair {
		rep.set("rss-after", d.name, d.rssMB())
	}
	rep.print(os.Stdout)
}

// benchConnect: one go-libvirt connection per operation (dial, auth list,
// CONNECT_OPEN, CONNECT_CLOSE, close).
func benchConnect(b *testing.B, d *daemon) {
	for i := 0; i < b.N; i++ {
		l, err := dial(d)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Disconnect(); err != nil {
			b.Fatalf("%s: disconnect: %v", d.name, err)
		}
	}
}

// benchVersion spreads b.N CONNECT_GET_VERSION calls over n connections,
// each driven by its own goroutine.
func benchVersion(b *testing.B, d *daemon, n int) {
	conns := make([]*libvirt.Libvirt, n)
	for i := range conns {
		conns[i] = connect(b, d)
	}
	defer func() {
		for _, l := range conns {
			l.Disconnect()
		}
	}()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, l := range conns {
		calls := b.N / n
		if i < b.N%n {
			calls++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if _, err := l.ConnectGetVersion(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatalf("%s: get version: %v", d.name, err)
	}
}
