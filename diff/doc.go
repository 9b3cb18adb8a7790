// Package diff is deptool's planner. It models a config tree (hosts, apps,
// manifests), validates it before anything is committed, compares the tree
// an operator wants with the tree each host last accepted, and returns the
// result as data: a Plan, the patches and stats behind a diff (Changes,
// Stats), each host's Status. It prints nothing; internal/ui shows them.
//
// It is pure: it reads the store and nothing else. Unchanged hosts and apps
// are recognised by their tree ids, so planning never opens what did not
// change.
//
// A Plan marshals to JSON (for --output json) as:
//
//	{"tree": "<id>", "untracked": ["old1"], "hosts": [{
//	  "host": "web1", "new": false, "base": "<host commit>",
//	  "from": "<tree>", "to": "<tree>",
//	  "sysusers": true, "daemon_reload": true, "rollback": true,
//	  "apps": [{"app": "nginx", "action": "add|update|remove", "from": "<tree>", "to": "<tree>",
//	    "files":    [{"op": "add|update|remove", "path": "nginx.conf",
//	                  "old": "<blob>", "new": "<blob>", "old_mode": "file", "new_mode": "executable"}],
//	    "symlinks": [{"op": "link|unlink", "path": "/etc/nginx.conf", "target": "nginx.conf"}],
//	    "sysusers": [{"op": "link|unlink", "name": "nginx.conf"}],
//	    "quadlets": [{"op": "link|unlink", "name": "cache.container"}],
//	    "units":    [{"op": "stop|disable|unlink|link|enable|restart", "unit": "nginx.service"}]}]}]}
//
// Ids are 40 hex digits; ids and lists that do not apply are left out.
package diff
