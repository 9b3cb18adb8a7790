package transport

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runUploadScript runs the upload script with the local sh, on a PATH
// holding only the tools named, with stdin as given.
func runUploadScript(t *testing.T, dst string, b *Blob, stdin []byte, tools ...string) (string, error) {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("the upload script needs %s, which coreutils has: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", uploadScript(dst, b, 0o640)+"\ncat")
	cmd.Env = []string{"PATH=" + bin}
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if err != nil {
		return errs.String(), err
	}
	return out.String(), nil
}

var scriptTools = []string{"mkdir", "head", "chmod", "sync", "mv", "rm", "cat"}

// The script must read exactly the blob and leave the rest of stdin to the
// command after it: that is what lets the agent start in the upload's
// session.
func TestUploadScriptLeavesTheRestOfStdin(t *testing.T) {
	for _, sum := range []string{"b2sum", "sha256sum"} {
		t.Run(sum, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "bin", "agent")
			data := bytes.Repeat([]byte("0123456789abcdef"), 70000)
			out, err := runUploadScript(t, dst, NewBlob(data), append(append([]byte{}, data...), "after"...), append(scriptTools, sum)...)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if out != "after" {
				t.Errorf("the command after the upload read %q, want %q", out, "after")
			}
			got, err := os.ReadFile(dst)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("uploaded file: %d bytes, %v; want %d bytes", len(got), err, len(data))
			}
			if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", fi.Mode().Perm())
			}
		})
	}
}

func TestUploadScriptRefusesCorruptOrShortData(t *testing.T) {
	data := []byte("the agent, as sent\n")
	for name, stdin := range map[string][]byte{
		"corrupt": []byte("the agent, altered\n"),
		"short":   data[:7],
	} {
		for _, sum := range []string{"b2sum", "sha256sum"} {
			t.Run(name+"/"+sum, func(t *testing.T) {
				dir := t.TempDir()
				dst := filepath.Join(dir, "agent")
				stderr, err := runUploadScript(t, dst, NewBlob(data), stdin, append(scriptTools, sum)...)
				if err == nil || !strings.Contains(stderr, sum+" on the host is ") || !strings.Contains(stderr, "the transfer was corrupted or cut short") {
					t.Fatalf("err %v, stderr %q", err, stderr)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("left behind: %v", entries)
				}
			})
		}
	}
}
