package rpc

import (
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"
)

// Config holds a server's limits (virtlxcd.conf's max_*, *_workers and
// keepalive_* options, or their admin_* variants).
type Config struct {
	MaxClients          uint
	MaxAnonymousClients uint
	MaxClientRequests   uint
	MinWorkers          uint
	MaxWorkers          uint
	PrioWorkers         uint
	KeepaliveInterval   int // seconds; <= 0 disables server PINGs
	KeepaliveCount      uint
}

// Server is a named set of programs served on one or more sockets with
// shared limits and one worker pool ("virtlxcd" and "admin" in libvirt's
// modular daemons).
type Server struct {
	Name string

	log  *slog.Logger
	pool *Pool

	mu        sync.Mutex
	cfg       Config
	programs  map[[2]uint32]*Program
	clients   map[uint64]*Client
	nextID    uint64
	listeners []net.Listener
	closed    bool
	onCount   func()
	wg        sync.WaitGroup
}

// NewServer creates a server; it serves nothing until Serve is called.
func NewServer(name string, cfg Config, log *slog.Logger) *Server {
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = 1
	}
	return &Server{
		Name:     name,
		log:      log.With("server", name),
		pool:     NewPool(cfg.MinWorkers, cfg.MaxWorkers, cfg.PrioWorkers),
		cfg:      cfg,
		programs: map[[2]uint32]*Program{},
		clients:  map[uint64]*Client{},
	}
}

// AddProgram makes a program available on every socket of the server.
func (s *Server) AddProgram(p *Program) {
	s.mu.Lock()
	s.programs[[2]uint32{p.Number, p.Version}] = p
	s.mu.Unlock()
}

func (s *Server) program(num, vers uint32) *Program {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.programs[[2]uint32{num, vers}]
}

// OnClientCount registers fn to run whenever a client connects or leaves
// (the daemon's idle timer watches it).
func (s *Server) OnClientCount(fn func()) {
	s.mu.Lock()
	s.onCount = fn
	s.mu.Unlock()
}

// Pool is the server's worker pool.
func (s *Server) Pool() *Pool { return s.pool }

func (s *Server) keepalive() (time.Duration, uint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.cfg.KeepaliveInterval) * time.Second, s.cfg.KeepaliveCount
}

// ClientLimits reports max clients, current clients, max unauthenticated
// clients and current unauthenticated clients (always 0: UNIX sockets
// here use auth none, so clients are authenticated on connect).
func (s *Server) ClientLimits() (maxClients, clients, maxUnauth, unauth uint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.MaxClients, uint(len(s.clients)), s.cfg.MaxAnonymousClients, 0
}

// SetClientLimits changes max_clients and/or max_anonymous_clients
// (negative = unchanged). It takes effect for the next connection.
func (s *Server) SetClientLimits(maxClients, maxUnauth int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	newMax, newUnauth := s.cfg.MaxClients, s.cfg.MaxAnonymousClients
	if maxClients >= 0 {
		newMax = uint(maxClients)
	}
	if maxUnauth >= 0 {
		newUnauth = uint(maxUnauth)
	}
	if newMax < newUnauth {
		return errors.New("The overall maximum number of clients must be greater than the maximum number of clients waiting for authentication")
	}
	s.cfg.MaxClients, s.cfg.MaxAnonymousClients = newMax, newUnauth
	return nil
}

// Clients lists the connected clients by id.
func (s *Server) Clients() []*Client {
	s.mu.Lock()
	out := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Client returns the client with the given id.
func (s *Server) Client(id uint64) (*Client, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// NumClients is the number of connected clients.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Auth types of a listening socket (remote_auth_type).
const (
	AuthNone   = 0
	AuthSASL   = 1
	AuthPolkit = 2
)

// ListenOptions describe how clients of one socket are treated.
type ListenOptions struct {
	// ReadOnly clients can never make write calls.
	ReadOnly bool
	// Auth is the socket's authentication scheme. With AuthPolkit, root
	// callers are trusted at once (as libvirt does) and everybody else
	// must authenticate first.
	Auth int
}

// Serve accepts connections on l until the server is shut down. Clients
// accepted on a read-only listener can never make write calls.
func (s *Server) Serve(l net.Listener, readonly bool) {
	s.ServeWith(l, ListenOptions{ReadOnly: readonly})
}

// ServeWith is Serve with the socket's authentication settings.
func (s *Server) ServeWith(l net.Listener, o ListenOptions) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				s.log.Warn("accept failed", "err", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.addWith(conn, o)
		}
	}()
}

func (s *Server) add(conn net.Conn, readonly bool) {
	s.addWith(conn, ListenOptions{ReadOnly: readonly})
}

func (s *Server) addWith(conn net.Conn, o ListenOptions) {
	readonly := o.ReadOnly
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	if limit := s.cfg.MaxClients; uint(len(s.clients)) >= limit {
		s.mu.Unlock()
		// libvirt stops accepting at the limit and leaves callers in the
		// backlog; refusing at once tells the caller why instead of
		// leaving it hanging.
		s.log.Warn("too many active clients, dropping connection", "max_clients", limit)
		conn.Close()
		return
	}
	s.nextID++
	c := newClient(s, conn, s.nextID, readonly, int(s.cfg.MaxClientRequests))
	c.auth = o.Auth
	c.authenticated.Store(o.Auth == AuthNone || o.Auth == AuthPolkit && c.Cred.UID == 0)
	s.clients[c.ID] = c
	fn := s.onCount
	s.mu.Unlock()
	s.log.Debug("new client", "id", c.ID, "pid", c.Cred.PID, "uid", c.Cred.UID, "readonly", readonly)
	go c.writer()
	go c.reader()
	if fn != nil {
		fn()
	}
}

func (s *Server) remove(c *Client) {
	s.mu.Lock()
	_, ok := s.clients[c.ID]
	delete(s.clients, c.ID)
	fn := s.onCount
	s.mu.Unlock()
	if ok && fn != nil {
		fn()
	}
}

// Shutdown stops accepting, closes every client and retires the workers.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	s.wg.Wait()
	for _, c := range s.Clients() {
		c.Close()
	}
	s.pool.Close()
}
