package pool

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	if d := backoff(2, base, limit); d != 0 {
		t.Errorf("second attempt waits %v, want none", d)
	}
	for n, want := range map[int]time.Duration{3: base, 4: 2 * base, 5: 4 * base, 6: 8 * base, 7: limit, 60: limit} {
		for range 100 {
			if d := backoff(n, base, limit); d > want || d < want/2 {
				t.Fatalf("attempt %d waits %v, want %v less at most half", n, d, want)
			}
		}
	}
}

func TestBucket(t *testing.T) {
	if err := (*bucket)(nil).wait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if newBucket(0, 1) != nil {
		t.Fatal("a zero rate made a bucket")
	}
	b := newBucket(100, 3)
	start := time.Now()
	for range 3 {
		if err := b.wait(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a burst of 3 waited %v", d)
	}
	for range 5 {
		b.wait(context.Background(), nil)
	}
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Errorf("3 + 5 tokens at 100/s took %v, want at least 50ms", d)
	}

	// A wait that is cancelled gives its token back.
	b = newBucket(1, 1)
	b.wait(context.Background(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.wait(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait: %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	if err := b.wait(context.Background(), stop); !errors.Is(err, ErrClosed) {
		t.Errorf("wait after stop: %v", err)
	}
	b.mu.Lock()
	tokens := b.tokens
	b.mu.Unlock()
	if tokens < -1.01 {
		t.Errorf("%v tokens after two cancelled waits, want them back", tokens)
	}
}
