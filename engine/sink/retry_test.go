package sink

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type retryErr time.Duration

func (e retryErr) Error() string             { return "all penalized" }
func (e retryErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestRetryAfter(t *testing.T) {
	if _, ok := RetryAfter(errors.New("plain")); ok {
		t.Fatal("a plain error has no retry hint")
	}
	if d, ok := RetryAfter(fmt.Errorf("group g1: %w", retryErr(2*time.Second))); !ok || d != 2*time.Second {
		t.Fatalf("wrapped hint: %v %v, want 2s", d, ok)
	}
	if d, _ := RetryAfter(retryErr(time.Millisecond)); d != MinRetryAfter {
		t.Fatalf("a 1ms hint gives %v, want the %v floor", d, MinRetryAfter)
	}
	if d, _ := RetryAfter(retryErr(-time.Second)); d != MinRetryAfter {
		t.Fatalf("a negative hint gives %v, want the %v floor", d, MinRetryAfter)
	}
}
