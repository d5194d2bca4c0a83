package jobs

import (
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Fault is an error of the job's environment that can clear without a change to the job: the
// data store's disk is full or its database unreachable, an S3 location is unwritable, unreadable
// or unreachable. The engine
// pauses a job whose run ends in a Fault and retries it with back-off until Config.FaultTimeout
// has passed since the first fault of an unbroken series, then fails it with Message. Workers
// return Faults for the S3 errors they meet (see OutputFault, InputFault); a store error that
// wraps store.ErrDiskFull or store.ErrUnavailable is a Fault without wrapping.
type Fault struct {
	// Message names the cause for the job's Message (so it says where and why, and leaves
	// internal details out: those are in Err, which goes to the log).
	Message string
	Err     error
}

func (f *Fault) Error() string { return f.Message + ": " + f.Err.Error() }

func (f *Fault) Unwrap() error { return f.Err }

// diskFullMessage is the message of a job stopped by a full data store disk.
const diskFullMessage = "The data store ran out of disk space"

// unavailableMessage is the message of a job stopped by a database that stayed unreachable.
const unavailableMessage = "The data store database was unreachable"

// asFault returns the fault err is, if it is one.
func asFault(err error) (*Fault, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f, true
	}
	if errors.Is(err, store.ErrDiskFull) {
		return &Fault{Message: diskFullMessage, Err: err}, true
	}
	if errors.Is(err, store.ErrUnavailable) {
		return &Fault{Message: unavailableMessage, Err: err}, true
	}
	return nil, false
}

// OutputFault returns err as a *Fault when it is an S3 fault that can clear met while writing to
// the output location uri (as the job's request gave it), and err unchanged otherwise.
func OutputFault(err error, uri string) error {
	return locationFault(err, "The output location "+uri, "writable")
}

// InputFault returns err as a *Fault when it is an S3 fault that can clear met while reading the
// input location uri (as the job's request gave it), and err unchanged otherwise.
func InputFault(err error, uri string) error {
	return locationFault(err, "The input location "+uri, "readable")
}

func locationFault(err error, location, able string) error {
	if _, ok := asFault(err); ok {
		return err
	}
	for _, s := range []error{s3io.ErrPermissionDenied, s3io.ErrNoSpace} {
		if errors.Is(err, s) {
			return &Fault{Message: location + " is not " + able + ": " + s.Error(), Err: err}
		}
	}
	if errors.Is(err, s3io.ErrUnavailable) {
		return &Fault{Message: location + " is not reachable: " + s3io.ErrUnavailable.Error(), Err: err}
	}
	return err
}

// faultDelay is the pause before the retry that follows the n-th fault (from 0) of a series under
// timeout: a tenth of the timeout but at most a second, doubling each time up to a quarter of the
// timeout but at most a minute. The caller keeps it within the deadline.
func faultDelay(timeout time.Duration, n int) time.Duration {
	d := min(timeout/10, time.Second)
	ceiling := min(timeout/4, time.Minute)
	for ; n > 0 && d < ceiling; n-- {
		d *= 2
	}
	return max(min(d, ceiling), time.Millisecond)
}

// fitMessage fits msg to the model's job Message pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$ and
// its 2048 characters: other characters (commas, quotes, parentheses) become '_'.
func fitMessage(msg string) string {
	var b strings.Builder
	n := 0
	for _, c := range msg {
		if n++; n > 2048 {
			break
		}
		switch {
		case strings.ContainsRune("_.:/=+-%@", c), unicode.IsLetter(c), unicode.IsNumber(c), unicode.Is(unicode.Zs, c):
			b.WriteRune(c)
		default:
			b.WriteRune('_')
		}
	}
	return b.String()
}
