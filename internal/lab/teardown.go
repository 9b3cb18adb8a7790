package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// stopTimeout bounds how long teardown waits for a host's processes to end.
const stopTimeout = 10 * time.Second

// teardown removes everything recorded for the given hosts, all in
// parallel, and drops from the state the hosts that are completely gone.
func (l *Lab) teardown(ctx context.Context, hosts []*hostState) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			if err := l.teardownHost(ctx, h); err != nil {
				errs[i] = fmt.Errorf("lab: host %s: teardown: %w", h.Name, err)
			}
		})
	}
	wg.Wait()
	gone := map[*hostState]bool{}
	for i, h := range hosts {
		gone[h] = errs[i] == nil
	}
	err := l.record(func() {
		var keep []*hostState
		for _, h := range l.st.Hosts {
			if !gone[h] {
				keep = append(keep, h)
			}
		}
		l.st.Hosts = keep
	})
	return errors.Join(append(errs, err)...)
}

// teardownHost undoes boot in reverse. Every step tolerates a resource that
// was never made or is already gone, so it is safe to repeat.
func (l *Lab) teardownHost(ctx context.Context, h *hostState) error {
	if err := l.stop(h); err != nil {
		return err
	}
	var errs []error
	for i := len(h.Mounts) - 1; i >= 0; i-- {
		if err := unmount(h.Mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := teardownNetwork(ctx, h); err != nil {
		errs = append(errs, err)
	}
	deadline := time.Now().Add(stopTimeout)
	for _, cg := range h.Cgroups {
		if err := removeCgroup(cg, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	if h.Dir != "" && !isMountPoint(h.root()) {
		if err := os.RemoveAll(h.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, freeIndex(l.st.ID, h.Index))
	}
	return errors.Join(errs...)
}

// stop ends every process of the host. Killing the container's PID 1
// makes the kernel end its whole PID namespace at once, and nspawn exits
// when its child does (SIGTERM to nspawn would ask for an orderly poweroff
// instead, which takes seconds or hangs). If the container's PID 1 was never
// recorded (a crash right after nspawn started), the lab's own cgroup is
// killed instead: only processes the lab started can be in it.
func (l *Lab) stop(h *hostState) error {
	thawForKill(h)
	if err := h.Init.kill(); err != nil {
		return fmt.Errorf("kill container init %d: %w", h.Init.PID, err)
	}
	if h.Init.PID == 0 {
		h.Nspawn.kill()
		for _, cg := range h.Cgroups {
			killCgroup(cg)
		}
	}
	deadline := time.Now().Add(stopTimeout)
	for !l.stopped(h) {
		if time.Now().After(deadline) {
			for _, cg := range h.Cgroups {
				killCgroup(cg)
			}
		}
		if time.Now().After(deadline.Add(stopTimeout)) {
			return fmt.Errorf("processes still running after %v in %v", 2*stopTimeout, h.Cgroups)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (l *Lab) stopped(h *hostState) bool {
	if h.Nspawn.PID != 0 && !l.nspawnExited(h) {
		return false
	}
	for _, cg := range h.Cgroups {
		if !cgroupEmpty(cg) {
			return false
		}
	}
	return true
}
