package pool

import (
	"testing"
	"time"
)

// A connection's batch takes every message waiting while the server
// answers fast, and an even share of those in flight once it spends
// spreadAbove or more on each message.
func TestBatchLimit(t *testing.T) {
	p, err := New("127.0.0.1:25", &Options{MaxConnections: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		perMessage time.Duration
		active     int
		want       int
	}{
		{0, 16, maxBatch}, // nothing measured yet
		{20 * time.Microsecond, 16, maxBatch},
		{spreadAbove - 1, 1000, maxBatch},
		{spreadAbove, 16, 4},
		{time.Millisecond, 17, 5},
		{time.Millisecond, 1, 1},
		{time.Millisecond, 0, 1},
		{time.Millisecond, 10 * maxBatch * 4, maxBatch},
	} {
		p.perMessage.v.Store(int64(tc.perMessage))
		p.active = tc.active
		if got := p.batchLimit(); got != tc.want {
			t.Errorf("%v a message, %d in flight: batchLimit() = %d, want %d", tc.perMessage, tc.active, got, tc.want)
		}
	}
}

func TestEWMA(t *testing.T) {
	var e ewma
	if e.load() != 0 {
		t.Fatalf("zero ewma = %v", e.load())
	}
	e.observe(800 * time.Microsecond)
	if e.load() != 800*time.Microsecond {
		t.Fatalf("first observation: %v", e.load())
	}
	for range 100 {
		e.observe(8 * time.Microsecond)
	}
	if d := e.load(); d < 8*time.Microsecond || d > 9*time.Microsecond {
		t.Errorf("after 100 observations of 8µs: %v", d)
	}
}
