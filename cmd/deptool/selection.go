package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deptool/deptool/deploy"
	"github.com/deptool/deptool/diff"
	"github.com/deptool/deptool/store"
	"github.com/spf13/cobra"
)

// selectionHelp is how --limit and --canary read, for their flag usage.
const selectionHelp = "host names, globs (web*) or @groups from groups.json; repeat the flag or separate with commas"

func addLimitFlag(cmd *cobra.Command, limit *[]string) {
	cmd.Flags().Var(&selectionValue{terms: limit, whole: "to select every host, leave out --limit"},
		"limit", "only these hosts: "+selectionHelp)
}

func addCanaryFlag(cmd *cobra.Command, canary *[]string) {
	cmd.Flags().Var(&selectionValue{terms: canary, whole: "to deploy without a canary, leave out --canary"},
		"canary", "deploy these hosts first; go on only if all of them deploy ("+selectionHelp+")")
}

// selectionValue is a --limit or --canary flag: a list as StringSlice
// reads it (repeated, comma-separated), except that an empty value or
// element is an error. Left out, a selection means every host; given
// empty ("--limit $HOSTS" with HOSTS unset), it must not mean the same.
type selectionValue struct {
	terms *[]string
	whole string // how to say "all" instead
}

func (v *selectionValue) Set(val string) error {
	var terms []string
	if val != "" {
		r := csv.NewReader(strings.NewReader(val))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err != nil {
			return fmt.Errorf("%v; separate names with commas", err)
		}
		terms = rec
	}
	if len(terms) == 0 {
		return fmt.Errorf("an empty selection selects nothing (is the variable that gives it unset?); %s", v.whole)
	}
	for i, t := range terms {
		terms[i] = strings.TrimSpace(t)
		if terms[i] == "" {
			return fmt.Errorf("an empty element (a leading, trailing or doubled comma) selects nothing; %s", v.whole)
		}
	}
	*v.terms = append(*v.terms, terms...)
	return nil
}

func (v *selectionValue) Type() string { return "strings" }

// String is "" when empty, which help reads as no default.
func (v *selectionValue) String() string {
	if len(*v.terms) == 0 {
		return ""
	}
	return "[" + strings.Join(*v.terms, ",") + "]"
}

// shardHelp is how --shard reads, for its flag usage.
const shardHelp = "only this runner's share I of N of the selected hosts (e.g. 2/4), for N runners deploying at once; a host's share depends on its name alone (see docs/selection.md)"

// addShardFlag adds --shard; the value is checked by parseShard.
func addShardFlag(cmd *cobra.Command, shard *string) {
	cmd.Flags().StringVar(shard, "shard", "", shardHelp)
}

func parseShard(s string) (diff.Shard, error) {
	sh, err := diff.ParseShard(s)
	if err != nil {
		return sh, fmt.Errorf("--%w", err)
	}
	return sh, nil
}

// selectShard is selectHosts narrowed to a shard: the selected hosts of
// its share, which may be none.
func (c *cluster) selectShard(terms []string, shard string) ([]string, error) {
	sh, err := parseShard(shard)
	if err != nil {
		return nil, err
	}
	hosts, err := c.selectHosts(terms)
	if err != nil {
		return nil, err
	}
	return sh.Of(hosts), nil
}

// selectHosts resolves a selection against the cluster's hosts and groups;
// an empty selection is every host.
func (c *cluster) selectHosts(terms []string) ([]string, error) {
	if len(terms) == 0 {
		return c.hosts, nil
	}
	return diff.Select(c.hosts, c.groups, terms)
}

// checkRollout validates --batch and --max-fail.
func (f deployFlags) checkRollout() error {
	if f.batch != "" {
		if _, err := diff.ParseRamp(f.batch); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	if f.maxFail != "" {
		if _, err := diff.ParseBudget(f.maxFail); err != nil {
			return fmt.Errorf("--%w", err)
		}
		if f.batch == "" {
			return errors.New("--max-fail needs --batch: without batches every host is attempted at once, so there is nothing left to stop")
		}
	}
	return nil
}

// rolloutOptions puts --batch and --max-fail, checked by checkRollout,
// into plan options.
func (f deployFlags) rolloutOptions(opts *diff.PlanOptions) {
	if f.batch != "" {
		opts.Batch, _ = diff.ParseRamp(f.batch)
	}
	if f.maxFail != "" {
		b, _ := diff.ParseBudget(f.maxFail)
		opts.MaxFail = &b
	}
}

// logSelection is --limit for the log, whose deploys name hosts that may
// have left the tree: names and globs match whatever is there; @groups
// come from the cluster used last.
func logSelection(cmd *cobra.Command, terms []string) (func(string) bool, error) {
	if len(terms) == 0 {
		return nil, nil
	}
	var groups diff.Groups
	if diff.UsesGroups(terms) {
		c, err := openCluster(cmd, nil)
		if err != nil {
			return nil, fmt.Errorf("--limit names a group, which needs the cluster's %s: %w", diff.GroupsFile, err)
		}
		groups = c.groups
	}
	return diff.Matcher(groups, terms)
}

// selectInTree resolves a selection against the hosts of the config tree
// of a deploy commit, for rollback: the hosts of the version gone back
// to, with the cluster's groups read against them. The tree on disk is
// not read, so a broken tree does not stop a rollback.
func (c *cluster) selectInTree(commit store.ID, terms []string) ([]string, error) {
	if !slices.ContainsFunc(terms, diff.IsPattern) {
		// Names alone are checked by the rollback itself, which says
		// which version lacks which host.
		return terms, nil
	}
	info, err := c.store.CommitInfo(commit)
	if err != nil {
		return nil, err
	}
	hosts, err := diff.HostNames(c.store, info.Tree, nil)
	if err != nil {
		return nil, err
	}
	var groups diff.Groups
	if diff.UsesGroups(terms) {
		if groups, err = deploy.LoadGroups(c.dir, hosts); err != nil {
			return nil, err
		}
	}
	return diff.Select(hosts, groups, terms)
}

// logEntries reads the log for --limit: names alone go to the history as
// they are; with globs or groups every deploy is read and matched here.
func logEntries(cmd *cobra.Command, s *store.Store, terms []string, n int) ([]deploy.Entry, error) {
	if !slices.ContainsFunc(terms, diff.IsPattern) {
		return deploy.History(s, terms, n)
	}
	selected, err := logSelection(cmd, terms)
	if err != nil {
		return nil, err
	}
	all, err := deploy.History(s, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []deploy.Entry
	for _, e := range all {
		if n > 0 && len(out) == n {
			break
		}
		e.Hosts = slices.DeleteFunc(e.Hosts, func(h deploy.HostResult) bool { return !selected(h.Host) })
		if len(e.Hosts) > 0 {
			out = append(out, e)
		}
	}
	return out, nil
}
