package avroipc

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// IPFilter is AvroSource's ipFilterRules (flume-facts §1.8): a
// comma-separated list of allow|deny:ip|name:<pattern>, where * matches any
// run of characters and ? one character. The first rule that matches
// decides; an address no rule matches is accepted, as Netty's
// IpFilterRuleHandler does (which is why Flume's examples end with
// deny:ip:*). A name rule matches the reverse-DNS name of the peer, and
// name:localhost matches any loopback or local address.
type IPFilter struct {
	rules []ipRule
	// LookupAddr resolves a peer's name for name rules; nil uses the
	// system resolver.
	LookupAddr func(ctx context.Context, addr string) ([]string, error)
}

type ipRule struct {
	allow     bool
	byName    bool
	localhost bool
	re        *regexp.Regexp
	text      string
}

// ParseIPFilter parses ipFilterRules. Errors quote the bad rule and say
// what the syntax is.
func ParseIPFilter(rules string) (*IPFilter, error) {
	f := &IPFilter{}
	for _, def := range strings.Split(rules, ",") {
		def = strings.TrimSpace(def)
		if def == "" {
			continue
		}
		access, rest, ok := strings.Cut(def, ":")
		kind, pattern, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || (access != "allow" && access != "deny") || (kind != "ip" && kind != "name") {
			return nil, fmt.Errorf("invalid ipFilter rule %q: rules look like <allow|deny>:<ip|name>:<pattern>, e.g. allow:ip:127.*,deny:ip:*", def)
		}
		r := ipRule{allow: access == "allow", byName: kind == "name", text: def}
		if r.byName && pattern == "localhost" {
			r.localhost = true
		} else {
			if pattern == "" {
				// Netty skips an empty pattern, so the rule never matches.
				f.rules = append(f.rules, r)
				continue
			}
			re, err := regexp.Compile("^(?:" + globToRegexp(pattern) + ")$")
			if err != nil {
				return nil, fmt.Errorf("invalid ipFilter rule %q: %w", def, err)
			}
			r.re = re
		}
		f.rules = append(f.rules, r)
	}
	if len(f.rules) == 0 {
		return nil, fmt.Errorf("ipFilter is true but ipFilterRules has no rules; Flume refuses this too")
	}
	return f, nil
}

// globToRegexp turns Netty's pattern syntax into a regular expression:
// '*' is any run, '?' one character, everything else literal.
func globToRegexp(p string) string {
	var b strings.Builder
	for _, c := range p {
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// Allow reports whether a peer at addr may connect, and the rule that
// decided ("" when none matched).
func (f *IPFilter) Allow(ctx context.Context, addr net.Addr) (bool, string) {
	ip := hostIP(addr)
	var names []string
	resolved := false
	for _, r := range f.rules {
		switch {
		case r.localhost:
			if ip != nil && isLocal(ip) {
				return r.allow, r.text
			}
		case r.re == nil:
		case !r.byName:
			if ip != nil && r.re.MatchString(ip.String()) {
				return r.allow, r.text
			}
		default:
			if !resolved {
				resolved = true
				names = f.lookup(ctx, ip)
			}
			for _, n := range names {
				if r.re.MatchString(n) {
					return r.allow, r.text
				}
			}
		}
	}
	return true, ""
}

func (f *IPFilter) lookup(ctx context.Context, ip net.IP) []string {
	if ip == nil {
		return nil
	}
	lookup := f.LookupAddr
	if lookup == nil {
		lookup = net.DefaultResolver.LookupAddr
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names, err := lookup(ctx, ip.String())
	if err != nil || len(names) == 0 {
		// Java's getHostName falls back to the address text.
		return []string{ip.String()}
	}
	for i, n := range names {
		names[i] = strings.TrimSuffix(n, ".")
	}
	return names
}

func hostIP(addr net.Addr) net.IP {
	switch a := addr.(type) {
	case *net.TCPAddr:
		if v4 := a.IP.To4(); v4 != nil {
			return v4
		}
		return a.IP
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

func isLocal(ip net.IP) bool {
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
