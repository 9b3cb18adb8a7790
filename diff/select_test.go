package diff

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fleet = []string{"db1", "db2", "lb1", "web01", "web02", "web03", "web10"}

func TestSelect(t *testing.T) {
	groups := Groups{"web": {"web01", "web02", "web03", "web10"}, "edge": {"lb1", "web01"}}
	for _, tt := range []struct {
		terms []string
		want  []string
	}{
		{[]string{"db1"}, []string{"db1"}},
		{[]string{"web0*"}, []string{"web01", "web02", "web03"}},
		{[]string{"web?[12]", "db2"}, []string{"db2", "web01", "web02"}},
		{[]string{"@edge", "db*"}, []string{"db1", "db2", "lb1", "web01"}},
		{[]string{"@web", "web01", " lb1 "}, []string{"lb1", "web01", "web02", "web03", "web10"}},
	} {
		got, err := Select(fleet, groups, tt.terms)
		if err != nil {
			t.Errorf("Select(%q): %v", tt.terms, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Select(%q) (-want +got):\n%s", tt.terms, d)
		}
	}
}

func TestSelectErrorsNameEveryProblem(t *testing.T) {
	groups := Groups{"web": {"web01"}, "edge": {"lb1"}}
	for _, tt := range []struct {
		terms []string
		want  string
	}{
		{[]string{"web1"}, "unknown host web1 (did you mean web01?)"},
		{[]string{"mail"}, "unknown host mail: not in the config tree (hosts: db1, db2, lb1, web01, web02, web03, web10)"},
		{[]string{"wbe*"}, `glob "wbe*" matches no host in the config tree (did you mean web01?)`},
		{[]string{"web[1"}, `glob "web[1" is malformed`},
		{[]string{"@wbe"}, "unknown group @wbe (did you mean @web?)"},
		{[]string{"@mail"}, "unknown group @mail (groups in groups.json: @edge, @web)"},
		{[]string{"db9", "@x"}, "unknown host db9 (did you mean db1?); unknown group @x"},
	} {
		_, err := Select(fleet, groups, tt.terms)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Select(%q) = %v, want an error starting %q", tt.terms, err, tt.want)
		}
	}
	if _, err := Select(fleet, nil, []string{"@web"}); err == nil || !strings.Contains(err.Error(), "the cluster has no groups.json") {
		t.Errorf("a group without groups.json: %v", err)
	}
}

func TestParseGroups(t *testing.T) {
	g, err := ParseGroups([]byte(`{"groups": {"web": ["web0*", "web10"], "data": ["db1", "db2", "db*"]}}`), fleet)
	if err != nil {
		t.Fatal(err)
	}
	want := Groups{"web": {"web01", "web02", "web03", "web10"}, "data": {"db1", "db2"}}
	if d := cmp.Diff(want, g); d != "" {
		t.Errorf("groups (-want +got):\n%s", d)
	}
}

func TestParseGroupsRefusesBadFiles(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"grups": {}}`, `groups.json: unknown key "grups" (did you mean "groups"?)`},
		{`{"groups": {"web": "web*"}}`, "groups.json: key groups on line 1 has the wrong type"},
		{`{"groups": {"db1": ["web01"]}}`, "groups.json: group db1 has the name of a host"},
		{`{"groups": {"web": []}}`, "groups.json: group web is empty"},
		{`{"groups": {"web": ["web*", "wbe*", "web7"]}}`, `groups.json: group web: glob "wbe*" matches no host in the config tree (did you mean web01?); group web: unknown host web7 (did you mean web01?)`},
		{`{"groups": {"all": ["@web"]}}`, `group all: "@web": a group lists hosts and globs, not other groups`},
		{`{"groups": {"a b": ["db1"]}}`, `group "a b": group names use letters`},
		{`{"groups": {}} {}`, "more than one JSON value"},
		{`{"groups": {`, "groups.json: the JSON ends too early"},
	} {
		_, err := ParseGroups([]byte(tt.in), fleet)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseGroups(%s) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestMatcher(t *testing.T) {
	m, err := Matcher(Groups{"edge": {"lb1"}}, []string{"web*", "db1", "@edge"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range []string{"db1", "db2", "lb1", "old-web", "web99"} {
		if m(h) {
			got = append(got, h)
		}
	}
	if d := cmp.Diff([]string{"db1", "lb1", "web99"}, got); d != "" {
		t.Errorf("matched (-want +got):\n%s", d)
	}
	if _, err := Matcher(nil, []string{"@edge"}); err == nil {
		t.Error("an unknown group matched")
	}
}

func TestEmptyTermsAreErrorsNotEverything(t *testing.T) {
	hosts := []string{"a", "b"}
	for _, terms := range [][]string{{""}, {" "}, {"a", ""}, {"@"}} {
		if got, err := Select(hosts, nil, terms); err == nil {
			t.Errorf("Select(%q) = %v, want an error", terms, got)
		}
		if _, err := Matcher(nil, terms); err == nil {
			t.Errorf("Matcher(%q) succeeded, want an error", terms)
		}
	}
}
