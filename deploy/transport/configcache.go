package transport

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/kevinburke/ssh_config"
	skh "github.com/skeema/knownhosts"
)

// parsed remembers the ssh_config files this process has parsed, by path,
// with the bytes they were parsed from. A deploy dials every host, twice
// with confirmation, and a fleet's ssh_config names every host: parsing
// it for every dial made dialing cost in proportion to the square of the
// fleet (7 ms a dial at 100 hosts, 74 ms at 1,000). The file is still
// read at every dial, and parsed again whenever its bytes differ, so an
// edit between dials is never missed. A parsed Config is only read
// afterwards, which is safe from many goroutines.
var parsed struct {
	sync.Mutex
	files map[string]parsedConfig
}

type parsedConfig struct {
	data []byte
	cfg  *ssh_config.Config
}

// decodeConfig parses the ssh_config in data, read from file, or returns
// the Config parsed from the same bytes before.
func decodeConfig(file string, data []byte) (*ssh_config.Config, error) {
	parsed.Lock()
	p, ok := parsed.files[file]
	parsed.Unlock()
	if ok && bytes.Equal(p.data, data) {
		return p.cfg, nil
	}
	cfg, err := ssh_config.DecodeBytes(data)
	if err != nil {
		return nil, err
	}
	parsed.Lock()
	defer parsed.Unlock()
	if parsed.files == nil {
		parsed.files = map[string]parsedConfig{}
	}
	parsed.files[file] = parsedConfig{data: bytes.Clone(data), cfg: cfg}
	return cfg, nil
}

// knownHosts remembers the known_hosts databases this process has
// parsed, for the same reason and in the same way as parsed: a fleet's
// known_hosts names every host, so parsing it at every dial is quadratic.
var knownHosts struct {
	sync.Mutex
	dbs map[string]parsedHostKeys
}

type parsedHostKeys struct {
	data [][]byte
	db   *skh.HostKeyDB
}

// hostKeyDB opens the known_hosts files, or returns the database parsed
// from the same bytes before. The bytes are read before parsing, so a
// file that changes in between is parsed again at the next dial.
func hostKeyDB(files []string) (*skh.HostKeyDB, error) {
	data := make([][]byte, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		data[i] = b
	}
	key := strings.Join(files, "\x00")
	knownHosts.Lock()
	p, ok := knownHosts.dbs[key]
	knownHosts.Unlock()
	if ok && slices.EqualFunc(p.data, data, bytes.Equal) {
		return p.db, nil
	}
	db, err := skh.NewDB(files...)
	if err != nil {
		return nil, err
	}
	knownHosts.Lock()
	defer knownHosts.Unlock()
	if knownHosts.dbs == nil {
		knownHosts.dbs = map[string]parsedHostKeys{}
	}
	knownHosts.dbs[key] = parsedHostKeys{data: data, db: db}
	return db, nil
}
