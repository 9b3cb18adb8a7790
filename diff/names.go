package diff

import (
	"fmt"
	"strings"

	"github.com/deptool/deptool/store"
)

// checkHostName says what is wrong with a host directory's name, or "":
// the store's gate, which every host name passes wherever it comes from.
func checkHostName(name string) string { return store.CheckHostName(name) }

// checkAppName says what is wrong with an app directory's name, or "". On
// the host an app lives in /var/lib/deptool/apps/<app>, so the name must be
// a plain, visible directory name.
func checkAppName(name string) string {
	const fix = "; app names use letters, digits, '.', '_' and '-', and do not start with '.' or '-'"
	switch {
	case name == "":
		return "app name is empty" + fix
	case len(name) > 255:
		return "app name is longer than 255 characters" + fix
	case name[0] == '.' || name[0] == '-':
		return fmt.Sprintf("app name starts with %q", name[0]) + fix
	}
	for _, c := range name {
		if !isAlnum(c) && !strings.ContainsRune("._-", c) {
			return fmt.Sprintf("app name contains %q", c) + fix
		}
	}
	return ""
}

func isAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// unitSuffixes are the unit types a config tree may link into
// /etc/systemd/system. A file without one would be ignored by systemd, so it
// is an error rather than a silent no-op.
var unitSuffixes = []string{
	".service", ".socket", ".timer", ".path", ".target", ".mount",
	".automount", ".swap", ".slice", ".scope", ".device",
}

// quadletSuffixes are the file types podman's quadlet generator reads from
// /etc/containers/systemd.
var quadletSuffixes = []string{
	".container", ".volume", ".network", ".kube", ".image", ".build", ".pod", ".artifact",
}

// isUnitName reports whether name is a systemd unit name with a suffix from
// suffixes: systemd's character set, at most 255 bytes, a non-empty stem.
func isUnitName(name string, suffixes []string) bool {
	if len(name) > 255 {
		return false
	}
	for _, c := range name {
		if !isAlnum(c) && !strings.ContainsRune(":_.@-\\", c) {
			return false
		}
	}
	for _, s := range suffixes {
		if stem, ok := strings.CutSuffix(name, s); ok && stem != "" && stem != "@" {
			return true
		}
	}
	return false
}

// unitFile returns the file that defines unit: itself, or for an instance
// like getty@tty1.service, its template getty@.service.
func unitFile(unit string) string {
	at := strings.IndexByte(unit, '@')
	dot := strings.LastIndexByte(unit, '.')
	if at < 0 || dot < at {
		return unit
	}
	return unit[:at+1] + unit[dot:]
}

// isTemplate reports whether unit is a template (foo@.service), which can
// be linked but not started or stopped by itself.
func isTemplate(unit string) bool {
	at := strings.IndexByte(unit, '@')
	return at >= 0 && at+1 < len(unit) && unit[at+1] == '.'
}
