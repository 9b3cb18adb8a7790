package deploy

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/deptool/deptool/deploy/wire"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

// fullHostPlan sets every field of a host plan, down to the steps, so a
// field the converter drops shows as a difference.
func fullHostPlan() diff.HostPlan {
	id := func(c string) store.ID { return store.ID(plumbing.NewHash(strings.Repeat(c, 40))) }
	return diff.HostPlan{
		Host: "web1", New: true, Base: id("1"), From: id("2"), To: id("3"),
		Sysusers: true, DaemonReload: true, Rollback: true,
		Apps: []diff.AppPlan{{
			App: "web", Action: diff.Update, From: id("4"), To: id("5"),
			Files: []diff.FileChange{{
				Op: diff.Add, Path: "systemd/web.service", Old: id("6"), New: id("7"),
				OldMode: diff.Mode(0o100644), NewMode: diff.Mode(0o100755), Secret: true,
				Attr: &diff.Attr{Mode: 0o600, Owner: "www", Group: "www"}, AttrChanged: true,
			}, {Op: diff.Update, Path: "a"}, {Op: diff.Remove, Path: "b"}},
			Symlinks: []diff.SymlinkStep{{Op: diff.Unlink, Path: "/etc/old", Target: "old.conf"}, {Op: diff.Link, Path: "/etc/web.conf", Target: "web.conf"}},
			Sysusers: []diff.LinkStep{{Op: diff.Link, Name: "web.conf"}},
			Quadlets: []diff.LinkStep{{Op: diff.Unlink, Name: "db.container"}},
			Units: []diff.UnitStep{
				{Op: diff.Stop, Unit: "a.service"}, {Op: diff.Disable, Unit: "a.service"},
				{Op: diff.UnlinkUnit, Unit: "a.service"}, {Op: diff.LinkUnit, Unit: "web.service.d/env.conf"},
				{Op: diff.Enable, Unit: "web.service"}, {Op: diff.Restart, Unit: "web.service"},
				{Op: diff.Reload, Unit: "nginx.service", External: true},
			},
			Checks:   []diff.Check{{HTTP: "http://127.0.0.1:8080/", ExpectStatus: 204, Timeout: "5s"}, {TCP: "127.0.0.1:5432"}},
			Validate: [][]string{{"nginx", "-t"}},
		}},
	}
}

func TestApplyPlanCarriesWhatTheAgentNeeds(t *testing.T) {
	hp := fullHostPlan()
	if zero := zeroFields(reflect.ValueOf(hp), "HostPlan"); len(zero) > 0 {
		t.Fatalf("the fixture leaves %v unset: set them, so the test sees whether they are carried", zero)
	}
	id := func(c string) store.ID { return store.ID(plumbing.NewHash(strings.Repeat(c, 40))) }
	want := wire.Plan{
		Host: "web1", Base: id("1"), To: id("3"),
		Sysusers: true, DaemonReload: true, Rollback: true,
		Apps: []wire.AppPlan{{
			App: "web", Action: wire.Update, To: id("5"),
			Files:    []wire.FileChange{{Op: wire.Add, Path: "systemd/web.service"}, {Op: wire.Update, Path: "a"}, {Op: wire.Remove, Path: "b"}},
			Symlinks: []wire.SymlinkStep{{Op: wire.Unlink, Path: "/etc/old", Target: "old.conf"}, {Op: wire.Link, Path: "/etc/web.conf", Target: "web.conf"}},
			Sysusers: []wire.LinkStep{{Op: wire.Link, Name: "web.conf"}},
			Quadlets: []wire.LinkStep{{Op: wire.Unlink, Name: "db.container"}},
			Units: []wire.UnitStep{
				{Op: wire.Stop, Unit: "a.service"}, {Op: wire.Disable, Unit: "a.service"},
				{Op: wire.UnlinkUnit, Unit: "a.service"}, {Op: wire.LinkUnit, Unit: "web.service.d/env.conf"},
				{Op: wire.Enable, Unit: "web.service"}, {Op: wire.Restart, Unit: "web.service"},
				{Op: wire.Reload, Unit: "nginx.service", External: true},
			},
			Checks:   []wire.Check{{HTTP: "http://127.0.0.1:8080/", ExpectStatus: 204, Timeout: "5s"}, {TCP: "127.0.0.1:5432"}},
			Validate: [][]string{{"nginx", "-t"}},
		}},
	}
	if zero := zeroFields(reflect.ValueOf(want), "Plan"); len(zero) > 0 {
		t.Fatalf("the expected plan leaves %v unset: a wire field the converter never fills would pass", zero)
	}
	got, err := ApplyPlan(hp)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ApplyPlan (-want +got):\n%s", d)
	}
}

// Every field of the planner's model either travels, under its own name,
// or is one the agent is known not to need: a field added to the plan
// fails here until someone decides which.
func TestApplyPlanDecidesEveryPlanField(t *testing.T) {
	leftOut := map[string]bool{
		"HostPlan.New": true, "HostPlan.From": true, "AppPlan.From": true,
		"FileChange.Old": true, "FileChange.New": true, "FileChange.OldMode": true, "FileChange.NewMode": true,
		"FileChange.Secret": true, "FileChange.Attr": true, "FileChange.AttrChanged": true,
	}
	pairs := []struct{ plan, wire any }{
		{diff.HostPlan{}, wire.Plan{}}, {diff.AppPlan{}, wire.AppPlan{}}, {diff.FileChange{}, wire.FileChange{}},
		{diff.SymlinkStep{}, wire.SymlinkStep{}}, {diff.LinkStep{}, wire.LinkStep{}}, {diff.UnitStep{}, wire.UnitStep{}},
		{diff.Check{}, wire.Check{}},
	}
	for _, p := range pairs {
		from, to := reflect.TypeOf(p.plan), reflect.TypeOf(p.wire)
		for i := range from.NumField() {
			name := from.Name() + "." + from.Field(i).Name
			_, carried := to.FieldByName(from.Field(i).Name)
			if carried == leftOut[name] {
				t.Errorf("%s: carried %v, listed as left out %v: carry it to %s or list it", name, carried, leftOut[name], to)
			}
		}
	}
}

func TestApplyPlanRefusesAWordTheProtocolLacks(t *testing.T) {
	hp := fullHostPlan()
	hp.Apps[0].Units[0].Op = "freeze"
	_, err := ApplyPlan(hp)
	if err == nil || !strings.Contains(err.Error(), `unit op "freeze"`) {
		t.Errorf("error %v, want one naming the unit op", err)
	}
}

// zeroFields lists the fields under v left at their zero value, looking
// into pointers, slices (a field any element sets is set) and structs.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		// A field counts as set when any element sets it.
		count := map[string]int{}
		for i := range v.Len() {
			for _, f := range zeroFields(v.Index(i), path+"[]") {
				count[f]++
			}
		}
		var out []string
		for f, n := range count {
			if n == v.Len() {
				out = append(out, f)
			}
		}
		slices.Sort(out)
		return out
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			out = append(out, zeroFields(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}
