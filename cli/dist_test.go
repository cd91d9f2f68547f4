package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lowrank-dev/lowrank/dist/c10d"

	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/train"
)

// TestMain lets the test binary stand in for the lowrank command in the processes that the
// distributed tests (and the launcher under test) start.
func TestMain(m *testing.M) {
	if os.Getenv("LOWRANK_TEST_AS_CLI") == "1" {
		if r := os.Getenv("LOWRANK_TEST_FAIL_RANK"); r != "" && r == os.Getenv(dist.EnvRank) {
			fmt.Fprintln(os.Stderr, "failing on purpose")
			os.Exit(3)
		}
		os.Exit(Execute())
	}
	os.Exit(m.Run())
}

func needDist(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	if !c10d.HasGloo() {
		t.Skip("this build has no Gloo: apt-get install libgloo-dev and re-run ./install-libtorch.sh")
	}
	t.Setenv("LOWRANK_TEST_AS_CLI", "1") // inherited by launched processes only: TestMain ran already
}

// distSets is a small, deterministic SGD run of the low-rank MLP on Fashion-MNIST.
func distSets(dir string, batch int, extra ...string) []string {
	sets := []string{"train", "-c", "fashionmnist-mlp-lowrank", "--threads", "1",
		"--set", "train.output_dir=" + dir, "--set", "train.batch_size=" + strconv.Itoa(batch),
		"--set", "train.epochs=2", "--set", "data.limit=1024", "--set", "data.test_limit=500",
		"--set", "optimizer.name=sgd", "--set", "optimizer.lr=0.05", "--set", "optimizer.momentum=0.9",
		"--set", "optimizer.weight_decay=0.0005", "--set", "dist.timeout=60"}
	return append(sets, extra...)
}

// A single-process run stopped by SIGINT or SIGTERM writes its checkpoint, says how to resume,
// and exits 128 + the signal's number (130, 143), not 0.
func TestInterruptedTrainExitCode(t *testing.T) {
	needDist(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			cmd, stdout, lines := trainUntilStarted(t, dir, nil)
			cmd.Process.Signal(tc.sig)
			for lines.Scan() {
			}
			cmd.Wait()
			if got := cmd.ProcessState.ExitCode(); got != tc.code {
				t.Errorf("exit status %d after %v, want %d", got, tc.sig, tc.code)
			}
			if !strings.Contains(stdout(), "interrupted; checkpoint written") {
				t.Errorf("stdout:\n%s", stdout())
			}
			if _, err := os.Stat(filepath.Join(dir, "checkpoints", "last", "trainer.json")); err != nil {
				t.Errorf("no checkpoint: %v", err)
			}
		})
	}
}

func maxWeightDiff(t *testing.T, a, b string) float64 {
	t.Helper()
	wa, err := checkpoint.Load(filepath.Join(a, "checkpoints", "last", "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	wb, err := checkpoint.Load(filepath.Join(b, "checkpoints", "last", "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(wa) != len(wb) || len(wa) == 0 {
		t.Fatalf("%d vs %d tensors", len(wa), len(wb))
	}
	worst := 0.0
	for name, x := range wa {
		y, ok := wb[name]
		if !ok {
			t.Fatalf("%s missing from %s", name, b)
		}
		xv, yv := x.Float64Values(false), y.Float64Values(false)
		for i := range xv {
			worst = math.Max(worst, math.Abs(xv[i]-yv[i]))
		}
	}
	return worst
}

func readMetrics(t *testing.T, dir string) []train.EpochMetrics {
	t.Helper()
	m, err := train.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Two processes with batch 64 each take the same steps as one process with batch 128 (same
// seed, same data order): the same weights up to float32 summation order, the same metrics;
// with the all-reduce after backward (the default here) and during it, and as two "machines"
// of one process each (two launchers with --nnodes 2).
func TestTwoProcessesMatchOneWithDoubleBatch(t *testing.T) {
	needDist(t)
	tmp := t.TempDir()
	one, two, overlapped := filepath.Join(tmp, "one"), filepath.Join(tmp, "two"), filepath.Join(tmp, "overlapped")
	if out, err := execute(t, distSets(one, 128)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := execute(t, distSets(two, 64, "--nproc", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := execute(t, distSets(overlapped, 64, "--nproc", "2", "--set", "dist.allreduce=during_backward")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Two "machines" of one process each: two launchers with --nnodes 2 (auto then overlaps).
	nodes := filepath.Join(tmp, "nodes")
	port, err := dist.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var launchers []*exec.Cmd
	for node := 0; node < 2; node++ {
		args := distSets(nodes, 64, "--nproc", "1", "--nnodes", "2", "--node-rank", strconv.Itoa(node),
			"--master-addr", "127.0.0.1", "--master-port", strconv.Itoa(port))
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "LOWRANK_TEST_AS_CLI=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		launchers = append(launchers, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("node %d:\n%s", node, out.String())
			}
		})
	}
	for node, cmd := range launchers {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node %d: %v", node, err)
		}
	}
	// 16 SGD steps of float32 sums taken in a different order (measured: 1.5e-8).
	for _, dir := range []string{two, overlapped, nodes} {
		if d := maxWeightDiff(t, one, dir); d > 1e-6 {
			t.Errorf("%s: weights differ by up to %g, want ≤ 1e-6", filepath.Base(dir), d)
		} else {
			t.Logf("%s: largest weight difference %.2g", filepath.Base(dir), d)
		}
	}
	m1, m2 := readMetrics(t, one), readMetrics(t, two)
	if len(m1) != 2 || len(m2) != 2 {
		t.Fatalf("%d and %d epochs recorded", len(m1), len(m2))
	}
	for i := range m1 {
		if math.Abs(m1[i].TrainLoss-m2[i].TrainLoss) > 1e-4 || math.Abs(m1[i].TestLoss-m2[i].TestLoss) > 1e-4 ||
			math.Abs(m1[i].TestMetric-m2[i].TestMetric) > 0.0021 {
			t.Errorf("epoch %d: one process %+v, two %+v", i+1, m1[i], m2[i])
		}
	}
	if m2[0].Processes != 2 || m2[0].AllReduceBytes <= 0 || m2[0].AllReduceSecond <= 0 {
		t.Errorf("no all-reduce report: %+v", m2[0])
	}
	// The low-rank MLP's gradients, float32: exactly its parameters' bytes.
	if want := int64(4 * 174851); m2[0].AllReduceBytes != want {
		t.Errorf("all-reduced %d bytes per step, want %d (4 × parameters)", m2[0].AllReduceBytes, want)
	}
	// Rank 0 alone wrote the run folder; a second rank writing would have clobbered it.
	if _, err := os.Stat(filepath.Join(two, "config.json")); err != nil {
		t.Error(err)
	}
}

// A distributed run resumed after its first epoch ends where the uninterrupted one does.
func TestDistributedResume(t *testing.T) {
	needDist(t)
	tmp := t.TempDir()
	whole, split := filepath.Join(tmp, "whole"), filepath.Join(tmp, "split")
	if out, err := execute(t, distSets(whole, 64, "--nproc", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := execute(t, distSets(split, 64, "--nproc", "2", "--set", "train.epochs=1")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := execute(t, "train", "--resume", split, "--threads", "1", "--set", "train.epochs=2", "--nproc", "2"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := maxWeightDiff(t, whole, split); d > 1e-6 {
		t.Errorf("resumed run's weights differ by up to %g, want ≤ 1e-6", d)
	}
	if m := readMetrics(t, split); len(m) != 2 {
		t.Errorf("%d epochs recorded after resuming, want 2", len(m))
	}
}

// startRanks starts a two-process run directly (as torchrun would), with rank 0's stderr
// readable line by line.
func startRanks(t *testing.T, dir string, timeout float64) ([]*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	port, err := dist.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := distSets(dir, 64, "--set", "data.limit=0", "--set", "train.epochs=20",
		"--set", fmt.Sprintf("dist.timeout=%g", timeout))
	var procs []*exec.Cmd
	var lines *bufio.Scanner
	for rank := 0; rank < 2; rank++ {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "LOWRANK_TEST_AS_CLI=1", "RANK="+strconv.Itoa(rank), "WORLD_SIZE=2",
			"LOCAL_RANK="+strconv.Itoa(rank), "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port))
		if rank == 0 {
			r, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			lines = bufio.NewScanner(r)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	})
	return procs, lines
}

// waitTraining reads rank 0's output until training is under way (its first progress line).
func waitTraining(t *testing.T, lines *bufio.Scanner) {
	t.Helper()
	for lines.Scan() {
		if strings.Contains(lines.Text(), "msg=progress") {
			return
		}
	}
	t.Fatal("rank 0 ended before training")
}

// exitOf waits for rank 0 and returns its exit code, the rest of its output and how long it took.
func exitOf(p *exec.Cmd, lines *bufio.Scanner) (int, string, time.Duration) {
	start := time.Now()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	p.Wait()
	return p.ProcessState.ExitCode(), rest.String(), time.Since(start)
}

// A rank killed mid-epoch makes the other exit non-zero with an error naming what happened,
// well within the timeout (Gloo notices the closed connection at the next all-reduce); a rank
// that hangs (SIGSTOP) makes it fail once dist.timeout passes.
func TestPeerFailureStopsRankZero(t *testing.T) {
	cases := []struct {
		name     string
		signal   syscall.Signal
		timeout  float64
		want     string
		min, max time.Duration
	}{
		{"killed", syscall.SIGKILL, 30, "rank 0 of 2: all-reducing gradients failed", 0, 30 * time.Second},
		{"hung", syscall.SIGSTOP, 3, "another rank exited or stopped responding (dist.timeout 3s)", 2 * time.Second, 20 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			needDist(t)
			procs, lines := startRanks(t, filepath.Join(t.TempDir(), "run"), c.timeout)
			waitTraining(t, lines)
			procs[1].Process.Signal(c.signal)
			code, out, took := exitOf(procs[0], lines)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Fatalf("rank 0 exited %d after its peer was %s:\n%s", code, c.name, out)
			}
			if took < c.min || took > c.max {
				t.Errorf("rank 0 failed %s after its peer was %s, want between %s and %s", took, c.name, c.min, c.max)
			}
			t.Logf("rank 0 failed %s after its peer was %s", took.Round(time.Millisecond), c.name)
		})
	}
}

// The launcher reports the rank that failed, and stops the others.
func TestLauncherReportsFailedRank(t *testing.T) {
	needDist(t)
	t.Setenv("LOWRANK_TEST_FAIL_RANK", "1")
	start := time.Now()
	out, err := execute(t, distSets(filepath.Join(t.TempDir(), "run"), 64, "--nproc", "2", "--set", "dist.timeout=3")...)
	if err == nil || !strings.Contains(err.Error(), "rank 1 of 2 failed") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if !strings.Contains(out, "rank 0 of 2: joining the gloo process group") {
		t.Errorf("rank 0 did not report the failed rendezvous:\n%s", out)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s", took)
	}
}

// bench --nproc 2 reports rank 0's all-reduce: exactly the model's float32 parameter bytes.
func TestBenchTwoProcesses(t *testing.T) {
	needDist(t)
	out, err := execute(t, "bench", "--nproc", "2", "--models", "mlp", "--methods", "original,low_rank", "--batch", "16",
		"--steps", "2", "--warmup", "1", "--json", "--threads", "1", "--allreduce", "during_backward")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rs []train.BenchResult
	if err := json.Unmarshal([]byte(out[strings.Index(out, "["):]), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, r := range rs {
		// From the second step on every bucket is all-reduced during backward.
		if r.AllReduceOverlap != r.AllReduceBuckets || r.AllReduceBuckets < 1 {
			t.Errorf("%s: %d of %d buckets overlapped with backward", r.Method, r.AllReduceOverlap, r.AllReduceBuckets)
		}
		if r.Processes != 2 || r.AllReduceBytes != 4*r.Params || r.AllReduceMedianMs <= 0 || r.AllReduceMedianMs > r.StepMedianMs {
			t.Errorf("%s: %d processes, %d bytes all-reduced for %d parameters, all-reduce %.2f of %.2f ms",
				r.Method, r.Processes, r.AllReduceBytes, r.Params, r.AllReduceMedianMs, r.StepMedianMs)
		}
	}
	if rs[1].AllReduceBytes >= rs[0].AllReduceBytes {
		t.Errorf("low-rank all-reduces %d bytes, full %d", rs[1].AllReduceBytes, rs[0].AllReduceBytes)
	}
}

// A checkpoint written mid-epoch by one process does not resume with two (the steps it counts
// are one process's batches).
func TestMidEpochResumeNeedsSameProcesses(t *testing.T) {
	needDist(t)
	dir := filepath.Join(t.TempDir(), "run")
	if out, err := execute(t, distSets(dir, 64, "--set", "train.epochs=1")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	path := filepath.Join(dir, "checkpoints", "last", "trainer.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	st["progress"].(map[string]any)["step"] = 3 // as if interrupted after 3 batches of epoch 2
	if raw, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execute(t, "train", "--resume", dir, "--set", "train.epochs=2", "--nproc", "2")
	if err == nil || !strings.Contains(out, "written mid-epoch (step 3 of epoch 2) by 1 process(es); resume it with --nproc 1") {
		t.Fatalf("err = %v\n%s", err, out)
	}
}

// The automatic-rank schedule runs distributed: the ranks agree on rank 0's switch and
// per-layer ranks, and the run ends low-rank with them recorded.
func TestDistributedAutoSchedule(t *testing.T) {
	needDist(t)
	dir := filepath.Join(t.TempDir(), "run")
	out, err := execute(t, distSets(dir, 64, "--nproc", "2", "--set", "train.epochs=3", "--set", "lowrank.schedule=auto",
		"--set", "lowrank.auto_window=2", "--set", "lowrank.auto_min_epochs=2", "--set", "lowrank.auto_max_epochs=2")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ranks, err := train.ChosenRanks(dir)
	if err != nil || len(ranks) == 0 {
		t.Fatalf("ranks %v, %v", ranks, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoints", "last", "trainer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Phase     string `json:"phase"`
		Switched  int    `json:"switched_after"`
		Processes int    `json:"processes"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Phase != "low_rank" || st.Switched != 2 || st.Processes != 2 {
		t.Errorf("trainer state %+v (%v), want low_rank after 2 epochs by 2 processes", st, err)
	}
	if m := readMetrics(t, dir); len(m) != 3 {
		t.Errorf("%d epochs recorded, want 3", len(m))
	}
}

// A backend this build lacks is refused before any process starts, saying what to use.
func TestUnavailableBackendRefused(t *testing.T) {
	needDist(t)
	if c10d.HasNCCL() {
		t.Skip("this build has NCCL")
	}
	out, err := execute(t, distSets(filepath.Join(t.TempDir(), "run"), 64, "--nproc", "2", "--set", "dist.backend=nccl")...)
	if err == nil || !strings.Contains(err.Error(), "dist.backend nccl: not in this build") || strings.Contains(out, "rank 0") {
		t.Fatalf("err = %v\n%s", err, out)
	}
}

// PowerSGD at rank 4 (after 2 plain steps) sends a fraction of the bytes and still learns about
// as well in 64 steps (measured: 15× fewer bytes, 77.8% against 75.4% test accuracy).
func TestPowerSGDCompressesAndLearns(t *testing.T) {
	needDist(t)
	tmp := t.TempDir()
	plain, psgd := filepath.Join(tmp, "plain"), filepath.Join(tmp, "psgd")
	for _, run := range []struct {
		dir  string
		rank string
	}{{plain, "0"}, {psgd, "4"}} {
		if out, err := execute(t, distSets(run.dir, 64, "--nproc", "2", "--set", "data.limit=4096",
			"--set", "dist.powersgd_rank="+run.rank, "--set", "dist.powersgd_start=2")...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	a, b := readMetrics(t, plain), readMetrics(t, psgd)
	last := len(a) - 1
	if b[last].AllReduceBytes*10 > a[last].AllReduceBytes {
		t.Errorf("PowerSGD all-reduced %d bytes per step, plain %d: want under a tenth", b[last].AllReduceBytes, a[last].AllReduceBytes)
	}
	if b[last].TestMetric < a[last].TestMetric-0.03 || b[last].TrainLoss >= b[0].TrainLoss {
		t.Errorf("PowerSGD: accuracy %.4f (plain %.4f), train loss %.4f → %.4f", b[last].TestMetric, a[last].TestMetric, b[0].TrainLoss, b[last].TrainLoss)
	}
	t.Logf("bytes per step %d → %d, accuracy %.4f → %.4f", a[last].AllReduceBytes, b[last].AllReduceBytes, a[last].TestMetric, b[last].TestMetric)
}

// Ctrl-C on the launcher reaches every rank once: they stop after the same step, rank 0 writes
// its checkpoint mid-epoch and says how to resume, the launcher exits 130 (as a shell reports
// Ctrl-C; it exited 0, so scripts took the run for finished), and the run resumes.
func TestLauncherInterrupt(t *testing.T) {
	needDist(t)
	dir := filepath.Join(t.TempDir(), "run")
	cmd, stdout, lines := trainUntilStarted(t, dir, nil, "--nproc", "2")
	cmd.Process.Signal(os.Interrupt)
	for lines.Scan() {
	}
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 130 {
		t.Fatalf("launcher exited with %v after Ctrl-C, want exit status 130; stdout:\n%s", err, stdout())
	}
	if !strings.Contains(stdout(), "interrupted; checkpoint written") {
		t.Errorf("stdout:\n%s", stdout())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoints", "last", "trainer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Progress  train.Progress `json:"progress"`
		Processes int            `json:"processes"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Progress.Step == 0 || st.Processes != 2 || st.Progress.Epoch != 0 {
		t.Fatalf("checkpoint %+v (%v), want a step of epoch 1 written by 2 processes", st, err)
	}
	// The interrupted epoch finishes when resumed with as many processes.
	if out, err := execute(t, "train", "--resume", dir, "--threads", "1", "--set", "train.epochs=1", "--nproc", "2"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if m := readMetrics(t, dir); len(m) != 1 || m[0].Epoch != 1 || math.IsNaN(m[0].TestMetric) {
		t.Errorf("after resuming: %+v", m)
	}
}

// trainUntilStarted starts this test binary as `lowrank train` over the run folder dir (20
// epochs of the distSets run, with extra flags), environment additions env, and returns once
// rank 0 trains: the process, a reader of its stdout so far, and its stderr's remaining lines.
// Both go to files, not exec's pipes: Wait would otherwise wait for every process holding the
// stdout pipe (ranks outliving their launcher), or close the stderr pipe under ranks still
// writing to it, which would then die of SIGPIPE as they would not under a terminal.
func trainUntilStarted(t *testing.T, dir string, env []string, extra ...string) (*exec.Cmd, func() string, *bufio.Scanner) {
	t.Helper()
	args := distSets(dir, 64, append([]string{"--set", "data.limit=0", "--set", "train.epochs=20"}, extra...)...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "LOWRANK_TEST_AS_CLI=1"), env...)
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout = out
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(r)
	waitTraining(t, lines)
	stdout := func() string {
		raw, _ := os.ReadFile(out.Name())
		return string(raw)
	}
	return cmd, stdout, lines
}

// withMarker returns the processes (other than this one) whose environment holds mark.
func withMarker(mark string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(env, []byte(mark)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SIGKILL of the launcher takes its ranks with it (they used to train on as orphans, writing
// checkpoints): each gets SIGTERM from the kernel and stops.
func TestRanksDieWithTheirLauncher(t *testing.T) {
	needDist(t)
	dir := filepath.Join(t.TempDir(), "run")
	mark := fmt.Sprintf("LOWRANK_TEST_MARK=%d", time.Now().UnixNano())
	cmd, _, lines := trainUntilStarted(t, dir, []string{mark}, "--nproc", "2")
	ranks := withMarker(mark)
	if len(ranks) != 3 { // the launcher and two ranks
		t.Fatalf("%d processes carry the marker, want 3", len(ranks))
	}
	t.Cleanup(func() {
		for _, p := range withMarker(mark) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	cmd.Process.Kill()
	cmd.Wait()
	go func() {
		for lines.Scan() {
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(withMarker(mark)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := withMarker(mark); len(left) > 0 {
		t.Fatalf("ranks %v still running 30 s after their launcher was killed", left)
	}
}

// A busy --master-port fails the launch at once (it lasted dist.timeout + 10 s), and
// MASTER_PORT in the environment is honoured with --nproc.
func TestBusyMasterPortFailsFast(t *testing.T) {
	needDist(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"flag", []string{"--master-port", port}, nil},
		{"MASTER_PORT", nil, []string{"MASTER_PORT=" + port}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := distSets(filepath.Join(t.TempDir(), "run"), 64, append([]string{"--nproc", "2"}, tc.args...)...)
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(append(os.Environ(), "LOWRANK_TEST_AS_CLI=1"), tc.env...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the launch on a busy port succeeded:\n%s", out)
			}
			if took > 20*time.Second {
				t.Errorf("the launch took %v to fail (dist.timeout is 60 s)", took)
			}
			if !strings.Contains(string(out), "rank 0 of 2 failed") {
				t.Errorf("output does not name rank 0:\n%s", out)
			}
		})
	}
}
