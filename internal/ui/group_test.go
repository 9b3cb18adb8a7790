package ui

import "testing"

// Reasons that differ only in hashes, the host's name, PIDs and times are
// the same reason; a different file or unit is not.
func TestNormalizeKeepsTheReasonAndDropsHostDetails(t *testing.T) {
	same := [][2]string{
		{"web01", "nothing was changed on the host: /etc/motd was changed by hand (sha256 3f9a8c1d22e0, expected 77aa01bc9e3f)"},
		{"web40", "nothing was changed on the host: /etc/motd was changed by hand (sha256 0b1c2d3e4f50, expected 77aa01bc9e3f)"},
		{"db7", "nothing was changed on the host: /etc/motd was changed by hand (sha256 aaaaaaa1, expected 77aa01bc9e3f)"},
	}
	want := Normalize(same[0][1], same[0][0])
	for _, s := range same[1:] {
		if got := Normalize(s[1], s[0]); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", s[1], got, want)
		}
	}
	if a, b := Normalize("nginx[1234]: Dec 07 20:13:24 web01 [emerg] bad", "web01"), Normalize("nginx[99]: Dec 07 20:14:01 web02 [emerg] bad", "web02"); a != b {
		t.Errorf("journal lines differ: %q, %q", a, b)
	}
	for _, pair := range [][2]string{
		{"/etc/motd was changed by hand", "/etc/issue was changed by hand"},
		{"unit nginx.service failed", "unit redis.service failed"},
		{"deadbeef", "cafebabe"}, // words, not hashes: no digit in them
	} {
		if Normalize(pair[0], "h") == Normalize(pair[1], "h") {
			t.Errorf("%q and %q normalise alike", pair[0], pair[1])
		}
	}
}

func TestGroupByKeepsFirstAppearanceOrder(t *testing.T) {
	type it struct{ h, why string }
	gs := GroupBy([]it{{"a", "x"}, {"b", "y"}, {"c", "x"}}, func(i it) string { return i.h }, func(i it) string { return i.why })
	if len(gs) != 2 || gs[0].First.why != "x" || len(gs[0].Hosts) != 2 || gs[0].Hosts[1] != "c" || gs[1].Hosts[0] != "b" {
		t.Errorf("groups %+v", gs)
	}
}
