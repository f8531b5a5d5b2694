package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
	"github.com/udpbuild/udpbuild/vm"
)

// bootHelp is the --help text of --boot, shared by kernel and diff.
const bootHelp = `
--boot PROFILE runs the scenarios in another kernel than the host's: Debian's
packaged cloud kernel of that series (` + "`6.1`" + ` or ` + "`6.12`" + `), booted in QEMU with
a small initramfs whose init is this udpbuild, with the host's ip and
ethtool (copied with their libraries) and the veth module. All the scenarios of one command run in one boot. The kernel
package is looked up in $UDPBUILD_KERNEL_CACHE (default
~/.cache/udpbuild/kernels) and fetched there with apt-get download and
dpkg-deb -x when missing; it is never installed. It needs
qemu-system-x86_64 (Debian: qemu-system-x86); KVM is used when /dev/kvm
works, else software emulation (about 3 s to boot, 1-3 s a scenario);
UDPBUILD_VM_ACCEL=tcg|kvm forces one. With --boot no root is needed on the
host, and the host's network is never touched.`

// bootFlags are --boot and --out-dir.
type bootFlags struct {
	profile string
	outDir  string
	fetch   bool
}

func (b *bootFlags) addBoot(c *cobra.Command) {
	c.Flags().StringVar(&b.profile, "boot", "", "run in this kernel booted in a VM instead of the host's: "+strings.Join(vm.Profiles(), " or "))
}

func (b *bootFlags) addFetch(c *cobra.Command) {
	c.Flags().BoolVar(&b.fetch, "fetch", false, "with --boot and no scenario: only make sure the profile's kernel is in the cache (fetching it if missing) and print where")
}

// fetchKernel is `kernel --boot PROFILE --fetch`.
func fetchKernel(cmd *cobra.Command, profile string) error {
	p, err := vm.LookupProfile(profile)
	if err != nil {
		return invalid("--boot: %v", err)
	}
	dir, err := vm.CacheDir()
	if err != nil {
		return invalid("%v", err)
	}
	k, err := vm.GetKernel(cmd.Context(), p, dir)
	if err := stopped(cmd.Context()); err != nil {
		return err
	}
	if err != nil {
		return &exitError{code: exitInvalid, err: err}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s\n", p.Name, p.Package, k.Root)
	return nil
}

func (b *bootFlags) addOutDir(c *cobra.Command) {
	c.Flags().StringVar(&b.outDir, "out-dir", "", "write NAME.pcap (or .pcapng) and NAME.json for each SCENARIO (NAME.yaml) into this directory")
}

// runBooted runs scs in a VM booted with profile, one boot for all, and
// returns their reports in order, failing on the first scenario that
// failed to run.
func runBooted(cmd *cobra.Command, profile string, scs []*scenario.Scenario, opts kernel.Options) ([]*report.Report, error) {
	res, err := bootResults(cmd, profile, scs, opts)
	if err != nil {
		return nil, err
	}
	reps := make([]*report.Report, len(res))
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("kernel %s run of %s: %w", profile, scs[i].Path, r.Err)
		}
		reps[i] = r.Report
	}
	return reps, nil
}

// bootResults runs scs in a VM booted with profile, one boot for all, and
// returns each one's result. An unknown profile or a kernel that cannot be
// had is a usage-level failure (exit status 2), as is a scenario the
// kernel runner cannot honour.
func bootResults(cmd *cobra.Command, profile string, scs []*scenario.Scenario, opts kernel.Options) ([]vm.Result, error) {
	if _, err := vm.LookupProfile(profile); err != nil {
		return nil, invalid("--boot: %v", err)
	}
	jobs := make([]vm.Job, len(scs))
	for i, sc := range scs {
		if err := kernel.Check(sc, opts); err != nil {
			return nil, invalid("%s: %v", sc.Path, err)
		}
		jobs[i] = vm.Job{Scenario: sc, AnyInetID: opts.AnyInetID}
	}
	res, st, err := vm.Run(cmd.Context(), vm.Config{Profile: profile}, jobs)
	if err := stopped(cmd.Context()); err != nil {
		return nil, err
	}
	if st.Release != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "udpbuild: kernel %s in a VM: booted in %.1f s, ran %d scenarios in %.1f s (%.1f s in all)\n",
			st.Release, st.Boot.Seconds(), st.Jobs, st.Run.Seconds(), st.Wall.Seconds())
	}
	if err != nil {
		if errors.Is(err, vm.ErrNoKernel) {
			return nil, &exitError{code: exitInvalid, err: err}
		}
		return nil, fmt.Errorf("kernel %s in a VM: %w", profile, err)
	}
	return res, nil
}

// kernelReport runs sc through the host's kernel, or with profile set
// through that kernel in a VM.
func kernelReport(cmd *cobra.Command, profile string, sc *scenario.Scenario, opts kernel.Options) (*report.Report, error) {
	if profile == "" {
		return runKernel(cmd, sc, opts)
	}
	reps, err := runBooted(cmd, profile, []*scenario.Scenario{sc}, opts)
	if err != nil {
		return nil, err
	}
	return reps[0], nil
}

// kernelMany is `udpbuild kernel` with --boot, --out-dir or several
// scenarios: the reports are collected first (one boot for all), then
// written, and every expect is checked.
func kernelMany(cmd *cobra.Command, args []string, of outputFlags, lf loadFlags, bf bootFlags) error {
	f, err := capture.ParseFormat(of.format)
	if err != nil {
		return invalid("--format: %v", err)
	}
	switch {
	case bf.outDir != "" && (of.out != "" || of.report != ""):
		return invalid("--out-dir writes each scenario's capture and report itself: give it without -o and --report")
	case bf.outDir == "" && len(args) > 1:
		return invalid("%d scenarios need --out-dir DIR (-o and --report name the files of one)", len(args))
	case bf.outDir == "" && of.out == "" && of.report == "":
		return invalid("nothing to write: give -o OUT.pcap (or -o -) and/or --report R.json, or --out-dir DIR")
	}
	scs := make([]*scenario.Scenario, len(args))
	names := map[string]string{}
	for i, a := range args {
		if scs[i], err = lf.load(a); err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(a), filepath.Ext(a))
		if prev, dup := names[name]; dup && bf.outDir != "" {
			return invalid("%s and %s would both write %s in --out-dir", prev, a, name)
		}
		names[name] = a
	}
	// A scenario that fails to run stops nothing else: its error is
	// named and the others are still written.
	res := make([]vm.Result, len(scs))
	if bf.profile != "" {
		if res, err = bootResults(cmd, bf.profile, scs, kernel.Options{}); err != nil {
			return err
		}
	} else {
		for i, sc := range scs {
			res[i].Report, res[i].Err = runKernel(cmd, sc, kernel.Options{})
			if err := stopped(cmd.Context()); err != nil {
				return err
			}
		}
	}
	if bf.outDir != "" {
		if err := os.MkdirAll(bf.outDir, 0o755); err != nil {
			return invalid("--out-dir: %v", err)
		}
	}
	var bad []string
	var failed error
	for i, sc := range scs {
		if res[i].Err != nil {
			err := fmt.Errorf("%s: %w", args[i], res[i].Err)
			if failed != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "udpbuild: "+oneLine(failed.Error()))
			}
			failed = err
			continue
		}
		o := of
		if bf.outDir != "" {
			base := filepath.Join(bf.outDir, strings.TrimSuffix(filepath.Base(args[i]), filepath.Ext(args[i])))
			o = outputFlags{out: base + "." + f.String(), report: base + ".json"}
		}
		if err := writeOutputs(cmd.Context(), o, f, res[i].Report, sc); err != nil {
			return err
		}
		if b := sc.CheckExpect(res[i].Report); len(b) > 0 {
			bad = append(bad, fmt.Sprintf("%s: %s", args[i], strings.Join(b, "; ")))
		}
	}
	if failed != nil {
		for _, b := range bad {
			fmt.Fprintln(cmd.ErrOrStderr(), "udpbuild: "+b)
		}
		return failed
	}
	if len(bad) > 0 {
		for _, b := range bad[:len(bad)-1] {
			fmt.Fprintln(cmd.ErrOrStderr(), "udpbuild: "+b)
		}
		return mismatch("%s", bad[len(bad)-1])
	}
	return nil
}
