package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// ErrClosed is returned for messages handed to a pool after Close, and
// for those still waiting for a connection when Close gave up on them.
var ErrClosed = errors.New("pool: closed")

// A Pool sends messages over a bounded set of connections to one server.
// Its methods are safe for concurrent use.
type Pool struct {
	addr string
	opts Options // defaults applied

	// jobs hands a message to a connection. It is unbuffered: a send
	// succeeds only when a connection is there to take the message, so
	// a message waits in its sender, where its context applies, and
	// connections waiting for work are served before busy ones.
	jobs chan *job
	// gather is the gathering turn: one connection at a time waits for
	// messages and takes all that come while it gathers, so that
	// messages handed over together go out together.
	gather chan struct{}
	// perMessage is the time a message takes on a connection: its
	// batch's round trip over the batch's messages (see batchLimit).
	perMessage ewma

	ctx      context.Context // the connections' I/O; cancelled when Close stops waiting
	cancel   context.CancelFunc
	closing  chan struct{} // closed once Close has drained the pool: connections QUIT
	msgRate  *bucket
	dialRate *bucket

	mu       sync.Mutex
	conns    int                 // open or being opened
	changed  chan struct{}       // closed, and replaced, when a connection ends
	closed   bool                // Close was called: no new messages
	stopping bool                // Close is waiting for the connections: none opens
	active   int                 // messages handed over and not yet reported
	ext      *session.Extensions // what the newest connection's server announced
	drained  chan struct{}       // closed once closed and active == 0
	workers  sync.WaitGroup

	stats counters
}

// job is one message on its way through the pool: the sender's side
// (Pool.send) hands it to a connection, which signals done once per
// attempt. Jobs are reused (newJob, free).
type job struct {
	msg  session.Message // what the connection sends, and its outcome
	raw  bool            // SendMessage: msg.Body is the whole message, the envelope in its header
	done chan struct{}   // buffered: the connection never waits on it

	// The body's start, for a retry: seek is nil when it cannot be
	// read again.
	seek  io.Seeker
	start int64

	// Set by the connection before done is signalled.
	taken bool // false: handed back untouched (the connection was gone)
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

func newJob() *job { return jobs.Get().(*job) }

// free returns j for reuse, once its sender has its outcome: no
// connection holds it then, and done is empty.
func (j *job) free() {
	*j = job{done: j.done}
	jobs.Put(j)
}

// rewind puts the body back where it was when the message was handed
// over.
func (j *job) rewind() error {
	if j.seek == nil {
		return errNoRewind
	}
	_, err := j.seek.Seek(j.start, io.SeekStart)
	return err
}

// dialError is a failure to open a connection for a message.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }

// New returns a pool of connections to addr, which is written as
// session.Dial takes it ("host", "host:port", "/path/to/socket"). No
// connection is opened until a message needs one. A nil opts means the
// defaults.
func New(addr string, opts *Options) (*Pool, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	port := transport.PortSMTP
	switch {
	case o.Session.LMTP:
		port = 0
	case o.Session.TLS == session.TLSImplicit:
		port = transport.PortSubmissions
	}
	if _, err := transport.ParseAddress(addr, port); err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		addr:     addr,
		opts:     o,
		jobs:     make(chan *job),
		gather:   make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		closing:  make(chan struct{}),
		msgRate:  newBucket(o.Rate, o.Burst),
		dialRate: newBucket(o.DialRate, o.DialBurst),
		changed:  make(chan struct{}),
		drained:  make(chan struct{}),
	}, nil
}

// Send sends one message, as session.Client.Send does: from and each of
// to are addresses as users write them ("" is the null sender), body is
// the message, header and body. See [Pool.SendEnvelope].
func (p *Pool) Send(ctx context.Context, from string, to []string, body io.Reader) (*session.Result, error) {
	env := session.Envelope{To: make([]command.Mailbox, 0, len(to))}
	if from != "" {
		m, err := command.ParseMailbox(from)
		if err != nil {
			return p.refuse(fmt.Errorf("pool: sender: %w", err))
		}
		env.From = m
	}
	for _, t := range to {
		m, err := command.ParseMailbox(t)
		if err != nil {
			return p.refuse(fmt.Errorf("pool: recipient: %w", err))
		}
		env.To = append(env.To, m)
	}
	return p.SendEnvelope(ctx, &env, body)
}

// SendEnvelope sends one message on one of the pool's connections, as
// session.Client.SendEnvelope does, and returns its outcome after every
// attempt the package documentation's rule allows: the *session.Result
// with every reply when the server accepted it, or the error of the last
// attempt. ctx bounds the wait for a connection and between attempts;
// once a connection has taken the message, the reply is waited for (the
// session's timeouts bound that wait), so that the outcome is known. The
// envelope is copied; body is read by the connection, and read again for
// a retry (see the package documentation), so the caller must leave it
// alone until SendEnvelope returns.
func (p *Pool) SendEnvelope(ctx context.Context, env *session.Envelope, body io.Reader) (*session.Result, error) {
	if err := p.enter(); err != nil {
		return p.refuse(err)
	}
	defer p.leave()
	if len(env.To) == 0 {
		return p.refuse(session.ErrNoRecipients)
	}
	j := newJob()
	defer j.free()
	j.msg.Envelope = *env
	if err := p.body(j, body); err != nil {
		return p.refuse(err)
	}
	return p.send(ctx, j)
}

// SendMessage sends a message whose envelope is taken from its own
// header, as session.Client.SendMessage does, on one of the pool's
// connections, with SendEnvelope's retries and outcome.
func (p *Pool) SendMessage(ctx context.Context, msg io.Reader) (*session.Result, error) {
	if err := p.enter(); err != nil {
		return p.refuse(err)
	}
	defer p.leave()
	j := newJob()
	defer j.free()
	j.raw = true
	if err := p.body(j, msg); err != nil {
		return p.refuse(err)
	}
	return p.send(ctx, j)
}

// refuse reports a message the pool did not take.
func (p *Pool) refuse(err error) (*session.Result, error) {
	p.stats.outcome(err)
	return nil, err
}

// enter counts a message in, unless the pool is closed.
func (p *Pool) enter() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.active++
	return nil
}

// leave counts a reported message out.
func (p *Pool) leave() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if p.closed && p.active == 0 {
		close(p.drained)
	}
}

// errNoRewind: the body cannot be read again, so the message is not
// retried.
var errNoRewind = errors.New("pool: the body cannot be read again")

// body sets j's body and where a retry reads it again from: an io.Seeker
// goes back to where it was; any other reader is read into memory first,
// when a retry may need it.
func (p *Pool) body(j *job, r io.Reader) error {
	if r == nil {
		r = strings.NewReader("")
	}
	j.msg.Body = r
	if s, ok := r.(io.Seeker); ok {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			j.seek, j.start = s, start
			return nil
		}
	}
	if p.opts.MaxAttempts <= 1 {
		return nil
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("pool: reading the message: %w", err)
	}
	br := bytes.NewReader(data)
	j.msg.Body, j.seek = br, br
	return nil
}

// send takes j through its attempts and returns its final outcome. An
// attempt is a connection taking the message, or a connection that could
// not be opened for it; a connection that hands the message back
// untouched (it found itself closed) costs none.
func (p *Pool) send(ctx context.Context, j *job) (*session.Result, error) {
	attempts := 0
	var last error // the last attempt's outcome
	retry := false
	for {
		if retry {
			retry = false
			if err := sleep(ctx, p.ctx.Done(), backoff(attempts+1, p.opts.Backoff, p.opts.MaxBackoff)); err != nil {
				return p.final(nil, last)
			}
			if err := j.rewind(); err != nil {
				return p.final(nil, last)
			}
			j.msg.Done, j.msg.Result, j.msg.Err = false, nil, nil
			p.stats.retries.Add(1)
		}
		if err := p.msgRate.wait(ctx, p.ctx.Done()); err != nil {
			return p.final(nil, firstErr(last, err))
		}
		if err := p.submit(ctx, j); err != nil {
			var de *dialError
			if !errors.As(err, &de) {
				return p.final(nil, firstErr(last, err))
			}
			attempts++
			last = de.err
			if attempts < p.opts.MaxAttempts && dialRetryable(de.err) {
				retry = true
				continue
			}
			return p.final(nil, last)
		}
		<-j.done
		if !j.taken {
			continue
		}
		last = j.msg.Err
		v := verdictOf(last)
		if v == vBehindClose {
			// The server closed the connection before it judged this
			// message: another one's attempt ended it, not this one's.
			if err := j.rewind(); err != nil {
				return p.final(nil, last)
			}
			j.msg.Done, j.msg.Result, j.msg.Err = false, nil, nil
			p.stats.retries.Add(1)
			continue
		}
		attempts++
		if attempts < p.opts.MaxAttempts && (v == vClosing || v == vNotDelivered || v == vUnknown && p.opts.RetryUnknown) {
			retry = true
			continue
		}
		return p.final(j.msg.Result, last)
	}
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// final counts a message's final outcome and returns it.
func (p *Pool) final(res *session.Result, err error) (*session.Result, error) {
	p.stats.outcome(err)
	if err != nil {
		res = nil
	}
	return res, err
}

// submit hands j to a connection: one that waits for work, or a new one
// if fewer than MaxConnections are open, or the first busy one to ask
// for more. A new connection is opened here, under ctx, and takes j
// first, so a failure to open it is this message's (a *dialError).
func (p *Pool) submit(ctx context.Context, j *job) error {
	j.taken = false
	for {
		p.mu.Lock()
		if p.conns < p.opts.MaxConnections {
			select {
			case p.jobs <- j: // a connection was waiting
				p.mu.Unlock()
				return nil
			default:
			}
			p.conns++
			p.mu.Unlock()
			if err := p.open(ctx, j); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if p.ctx.Err() != nil {
					return ErrClosed
				}
				return &dialError{err}
			}
			return nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case p.jobs <- j:
			return nil
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return ErrClosed
		}
	}
}

// open opens a connection, whose slot submit has counted in conns, and
// starts its goroutine, which sends first before anything else.
func (p *Pool) open(ctx context.Context, first *job) error {
	c, err := p.dial(ctx)
	if err == nil {
		p.mu.Lock()
		if p.stopping {
			err = ErrClosed
		} else {
			p.workers.Add(1)
			ext := c.Extensions()
			p.ext = &ext
		}
		p.mu.Unlock()
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		p.stats.dialErrors.Add(1)
		p.release()
		return err
	}
	p.stats.dials.Add(1)
	go p.work(c, first)
	return nil
}

// release frees a connection's slot and wakes the senders waiting for
// one.
func (p *Pool) release() {
	p.mu.Lock()
	p.conns--
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// dial connects, greets and logs in, under ctx and the pool's own
// context.
func (p *Pool) dial(ctx context.Context) (*session.Client, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	if err := p.dialRate.wait(ctx, p.ctx.Done()); err != nil {
		return nil, err
	}
	o := p.opts.Session
	if p.opts.Dial != nil {
		var d transport.Dialer
		if o.Dialer != nil {
			d = *o.Dialer
		}
		d.Dial = p.opts.Dial
		o.Dialer = &d
	}
	c, err := session.Dial(ctx, p.addr, &o)
	if err != nil {
		return nil, err
	}
	if err := c.Hello(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if cr := p.opts.Credentials; cr != nil {
		if cr.Mechanism != nil {
			err = c.Auth(ctx, cr.Mechanism())
		} else {
			err = c.Login(ctx, cr.Username, cr.Password)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Extensions returns the service extensions the server announced in its
// EHLO (or LHLO) reply on the connection opened last, and false when no
// connection has been opened yet: what the pool's connections use
// (PIPELINING, CHUNKING, SIZE, LIMITS, ...).
func (p *Pool) Extensions() (session.Extensions, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ext == nil {
		return session.Extensions{}, false
	}
	return *p.ext, true
}

// Close stops taking messages (Send and SendStream then return
// ErrClosed), waits until every message already handed over has its
// outcome (retries included), and QUITs every connection. If ctx ends
// first, the messages still in flight are abandoned: the connections are
// closed at once, so each such message is reported as the session
// reports a lost connection (an *session.UnansweredError: unknown once
// its end was written), and those still waiting get ErrClosed; Close then
// returns ctx's error once every Send has returned. Later calls return
// ErrClosed.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	if p.active == 0 {
		close(p.drained)
	}
	p.mu.Unlock()

	var err error
	select {
	case <-p.drained:
	case <-ctx.Done():
		err = ctx.Err()
		p.cancel()
		<-p.drained // every Send returns promptly once the pool's context is done
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	close(p.closing)
	done := make(chan struct{})
	go func() {
		p.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
		p.cancel() // a QUIT that does not come back
		<-done
	}
	p.cancel()
	return err
}
