package isic

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelFor calls fn(i) for every i in [0, n) on workers goroutines
// (runtime.NumCPU() when workers <= 0), and returns when all calls are
// done. When progress is not nil it is called on the calling goroutine
// after each call of fn, with the number done so far, so it needs no
// locking.
func parallelFor(n, workers int, fn func(i int), progress func(done int)) {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	var next atomic.Int64
	finished := make(chan struct{}, n)
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
				finished <- struct{}{}
			}
		})
	}
	if progress != nil {
		for done := 1; done <= n; done++ {
			<-finished
			progress(done)
		}
	}
	wg.Wait()
}
