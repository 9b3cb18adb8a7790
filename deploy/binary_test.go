package deploy

import "testing"

// The host's platform comes from what the start command printed last on
// stderr; a login script may have printed before it.
func TestPlatformFromStartOutput(t *testing.T) {
	for stderr, want := range map[string]string{
		"Linux x86_64":                       "linux-amd64",
		"Linux aarch64\n":                    "linux-arm64",
		"welcome to web1\nLinux x86_64\n":    "linux-amd64",
		"motd line\n\nLinux riscv64":         "linux-riscv64",
		"bash: pyenv: not found\nLinux i686": "linux-386",
	} {
		got, err := platformOf(lastLine(stderr))
		if err != nil || got != want {
			t.Errorf("platform of %q = %q, %v; want %q", stderr, got, err, want)
		}
	}
	if _, err := platformOf(lastLine("Linux x86_64\nnoise")); err == nil {
		t.Error("a last line that is not uname output was taken for a platform")
	}
}
