package http

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// BucketHeartbeat is the rate-limit bucket of heartbeats: counted apart
// from a token's other requests, so a busy client never loses its
// presence through its own rate limit.
const BucketHeartbeat = "heartbeat"

// limiters holds one token bucket per token and bucket name
// (Security.RateLimit; a route's rule names its bucket).
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow takes one request from the bucket; when it is empty it returns
// the seconds to wait (at least 1) and false.
func (l *limiters) allow(tokenID, bucket string, perSecond float64) (int, bool) {
	if perSecond <= 0 {
		return 0, true
	}
	key := tokenID + "\x00" + bucket
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*rate.Limiter)
	}
	lim := l.m[key]
	if lim == nil {
		burst := max(1, int(math.Ceil(2*perSecond)))
		lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return max(1, int(math.Ceil(d.Seconds()))), false
	}
	return 0, true
}
