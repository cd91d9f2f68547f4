package dist

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lowrank-dev/lowrank/dist/c10d"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// BenchmarkAllReduce times the all-reduce of a float32 buffer between two ranks over loopback
// (both in this process), at the gradient sizes of the low-rank and full VGG11 and ResNet18 on
// CIFAR-10: the communication alone, without waiting for a slower rank's compute.
func BenchmarkAllReduce(b *testing.B) {
	for _, c := range []struct {
		name  string
		bytes int64
	}{{"vgg11-lowrank", 4 * 3749983}, {"resnet18-lowrank", 4 * 4418250}, {"vgg11", 4 * 9756426}, {"resnet18", 4 * 11173962}} {
		b.Run(c.name, func(b *testing.B) {
			port, err := FreePort()
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for r := 0; r < 2; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					g, err := Join(Env{Rank: r, World: 2, Addr: "127.0.0.1", Port: port, Timeout: time.Minute})
					if err != nil {
						errs[r] = err
						return
					}
					defer g.Close()
					x, err := ts.Ones([]int64{c.bytes / 4}, gotch.Float, gotch.CPU)
					if err != nil {
						errs[r] = err
						return
					}
					if r == 0 {
						b.SetBytes(c.bytes)
						b.ResetTimer()
					}
					for i := 0; i < b.N; i++ {
						if err := g.g.AllReduce([]*ts.Tensor{x}, c10d.Sum); err != nil {
							errs[r] = err
							return
						}
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					b.Fatal(fmt.Errorf("%v", err))
				}
			}
		})
	}
}
