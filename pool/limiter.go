package pool

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// A wait that finds the bucket empty takes a token in advance (the count
// goes below zero) and sleeps until it would have been there, so waiters
// are served in the order they came and none is starved. A nil bucket
// never waits.
type bucket struct {
	rate  float64 // tokens per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// wait takes a token, sleeping until there is one or ctx or stop ends.
func (b *bucket) wait(ctx context.Context, stop <-chan struct{}) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		b.mu.Unlock()
		return nil
	}
	d := time.Duration(-b.tokens / b.rate * float64(time.Second))
	b.mu.Unlock()
	if err := sleep(ctx, stop, d); err != nil {
		b.mu.Lock()
		b.tokens++ // not used: the next waiter may have it
		b.mu.Unlock()
		return err
	}
	return nil
}

// sleep waits d, or until ctx or stop ends, which it reports as an error.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}

// backoff is the wait before attempt n (2 for the first retry): none
// before the second, then base, 2*base, 4*base ... up to limit, each less
// a random part of up to a half.
func backoff(n int, base, limit time.Duration) time.Duration {
	if n <= 2 {
		return 0
	}
	d := base
	for i := 3; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - rand.N(d/2+1)
}
