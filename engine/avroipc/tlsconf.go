package avroipc

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/vfs"
	"software.sslmate.com/src/go-pkcs12"
)

// TLSOptions are Flume's ssl keys (flume-facts §1.7) plus Sluice's
// additions: a client certificate for the sink, client-certificate
// authentication and a truststore on the source, and optional hostname
// verification on the sink.
type TLSOptions struct {
	Enabled bool

	Keystore, KeystorePassword, KeystoreType       string
	Truststore, TruststorePassword, TruststoreType string
	TrustAll                                       bool // sink: trust-all-certs

	IncludeProtocols, ExcludeProtocols []string
	IncludeCiphers, ExcludeCiphers     []string

	// ClientAuth (source): "none" (Flume), "optional" or "required".
	ClientAuth string
	// VerifyHostname (sink): check the server certificate's name as well as
	// its chain. Flume checks only the chain, so the default is false.
	VerifyHostname bool
	ServerName     string // sink: the name to verify (the hostname key)
}

// Keystore types Sluice reads. Java's JKS loader also opens PKCS#12 files
// (keystore.type.compat), so the declared type is a hint: the content
// decides.
var keystoreTypes = []string{"JKS", "PKCS12", "PEM"}

// ReadTLSOptions reads the ssl keys of a source (server true) or sink,
// falling back to Flume's global FLUME_SSL_* environment variables as Flume
// does (there is no JVM, so the javax.net.ssl system properties do not
// apply).
func ReadTLSOptions(r *config.Reader, server bool) TLSOptions {
	o := TLSOptions{Enabled: r.Bool("ssl", false)}
	env := func(key, name string) string {
		if v, ok := r.Raw(key); ok {
			return v
		}
		return os.Getenv(name)
	}
	envList := func(key, name string) []string { return strings.Fields(env(key, name)) }
	o.Keystore = env("keystore", "FLUME_SSL_KEYSTORE_PATH")
	o.KeystorePassword = env("keystore-password", "FLUME_SSL_KEYSTORE_PASSWORD")
	o.KeystoreType = strings.ToUpper(env("keystore-type", "FLUME_SSL_KEYSTORE_TYPE"))
	o.Truststore = env("truststore", "FLUME_SSL_TRUSTSTORE_PATH")
	o.TruststorePassword = env("truststore-password", "FLUME_SSL_TRUSTSTORE_PASSWORD")
	o.TruststoreType = strings.ToUpper(env("truststore-type", "FLUME_SSL_TRUSTSTORE_TYPE"))
	o.IncludeProtocols = envList("include-protocols", "FLUME_SSL_INCLUDE_PROTOCOLS")
	o.ExcludeProtocols = envList("exclude-protocols", "FLUME_SSL_EXCLUDE_PROTOCOLS")
	o.IncludeCiphers = envList("include-cipher-suites", "FLUME_SSL_INCLUDE_CIPHERSUITES")
	o.ExcludeCiphers = envList("exclude-cipher-suites", "FLUME_SSL_EXCLUDE_CIPHERSUITES")
	for _, k := range []struct{ key, val string }{{"keystore-type", o.KeystoreType}, {"truststore-type", o.TruststoreType}} {
		if k.val != "" && !contains(keystoreTypes, k.val) {
			r.Errorf(k.key, "%q is not a keystore type Sluice reads; use JKS, PKCS12 or PEM", k.val)
		}
	}
	if server {
		o.ClientAuth = r.Enum("client-auth", "none", "none", "optional", "required")
		if o.Enabled && o.Keystore == "" {
			r.Errorf("keystore", "ssl = true needs a keystore (or FLUME_SSL_KEYSTORE_PATH) holding the server's key and certificate")
		}
		if o.ClientAuth != "none" && o.Truststore == "" {
			r.Notef(config.Note, "client-auth", "avro-client-auth-roots", "set truststore to the CA that signs client certificates",
				"client-auth = %s without a truststore verifies client certificates against the system roots", o.ClientAuth)
		}
	} else {
		o.TrustAll = r.Bool("trust-all-certs", false)
		o.VerifyHostname = r.Bool("verify-hostname", false)
	}
	if _, _, err := protocolRange(o.IncludeProtocols, o.ExcludeProtocols, server); err != nil {
		r.Errorf("include-protocols", "%v", err)
	}
	if _, err := cipherSuites(o.IncludeCiphers, o.ExcludeCiphers); err != nil {
		r.Errorf("include-cipher-suites", "%v", err)
	}
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var protocolVersions = []struct {
	name string
	v    uint16
}{{"TLSv1", tls.VersionTLS10}, {"TLSv1.1", tls.VersionTLS11}, {"TLSv1.2", tls.VersionTLS12}, {"TLSv1.3", tls.VersionTLS13}}

// protocolRange maps Java protocol names to a Go version range. SSLv3 is
// always excluded (Go has none); SSLv2Hello is a Java pseudo-protocol and
// ignored. Without include-protocols a client offers TLS 1.2-1.3, what
// current JDKs enable; a server offers TLS 1.2 only, because Flume 1.9's
// Netty 3 TLS client breaks on TLS 1.3 ("Tag mismatch!" on the first reply)
// when it runs on Java 11 or later, and a collector cannot tell a 1.9 agent
// from a 1.10 one before the handshake. include-protocols = TLSv1.2 TLSv1.3
// turns TLS 1.3 on.
func protocolRange(include, exclude []string, server bool) (lo, hi uint16, err error) {
	on := map[uint16]bool{tls.VersionTLS12: true, tls.VersionTLS13: !server}
	valid := "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (SSLv3 and SSLv2Hello are accepted and ignored)"
	lookup := func(n string) (uint16, bool, error) {
		if n == "SSLv3" || n == "SSLv2Hello" {
			return 0, false, nil
		}
		for _, p := range protocolVersions {
			if p.name == n {
				return p.v, true, nil
			}
		}
		return 0, false, fmt.Errorf("unknown TLS protocol %q; valid are %s", n, valid)
	}
	if len(include) > 0 {
		on = map[uint16]bool{}
		for _, n := range include {
			v, ok, err := lookup(n)
			if err != nil {
				return 0, 0, err
			}
			if ok {
				on[v] = true
			}
		}
	}
	for _, n := range exclude {
		v, ok, err := lookup(n)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			delete(on, v)
		}
	}
	gap := false
	for _, p := range protocolVersions {
		switch {
		case on[p.v] && lo == 0:
			lo, hi = p.v, p.v
		case on[p.v] && gap:
			return 0, 0, fmt.Errorf("the enabled protocols have a gap; Go enables one contiguous range of TLS versions")
		case on[p.v]:
			hi = p.v
		case lo != 0:
			gap = true
		}
	}
	if lo == 0 {
		return 0, 0, fmt.Errorf("include/exclude-protocols leave no TLS version enabled; valid are %s", valid)
	}
	return lo, hi, nil
}

// cipherSuites maps Java (IANA) cipher suite names to Go's; Java's SSL_
// spellings of old suites are accepted. TLS 1.3 suites cannot be chosen in
// Go: including them is a no-op, excluding them is an error.
func cipherSuites(include, exclude []string) ([]uint16, error) {
	byName := map[string]*tls.CipherSuite{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		byName[cs.Name] = cs
	}
	tls13 := map[string]bool{"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true}
	resolve := func(n string) (*tls.CipherSuite, error) {
		if cs, ok := byName[n]; ok {
			return cs, nil
		}
		if rest, ok := strings.CutPrefix(n, "SSL_"); ok {
			if cs, ok := byName["TLS_"+rest]; ok {
				return cs, nil
			}
		}
		names := make([]string, 0, len(byName))
		for k := range byName {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown cipher suite %q; Sluice knows %s", n, strings.Join(names, " "))
	}
	if len(include) == 0 && len(exclude) == 0 {
		return nil, nil
	}
	var ids []uint16
	if len(include) > 0 {
		for _, n := range include {
			if tls13[n] {
				continue
			}
			cs, err := resolve(n)
			if err != nil {
				return nil, err
			}
			ids = append(ids, cs.ID)
		}
	} else {
		for _, cs := range tls.CipherSuites() {
			ids = append(ids, cs.ID)
		}
	}
	for _, n := range exclude {
		if tls13[n] {
			return nil, fmt.Errorf("cipher suite %s is a TLS 1.3 suite, which Go always enables; exclude TLSv1.3 instead", n)
		}
		cs, err := resolve(n)
		if err != nil {
			return nil, err
		}
		kept := ids[:0]
		for _, id := range ids {
			if id != cs.ID {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	return ids, nil
}

func (o TLSOptions) base(server bool) (*tls.Config, error) {
	lo, hi, err := protocolRange(o.IncludeProtocols, o.ExcludeProtocols, server)
	if err != nil {
		return nil, err
	}
	suites, err := cipherSuites(o.IncludeCiphers, o.ExcludeCiphers)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: lo, MaxVersion: hi, CipherSuites: suites}, nil
}

// ServerConfig builds the source's TLS configuration, reading the
// keystore (and truststore, for client-auth) through fs.
func (o TLSOptions) ServerConfig(fs vfs.FS) (*tls.Config, error) {
	cfg, err := o.base(true)
	if err != nil {
		return nil, err
	}
	cert, err := LoadKeystore(fs, o.Keystore, o.KeystorePassword, o.KeystoreType)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	switch o.ClientAuth {
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if o.ClientAuth == "optional" || o.ClientAuth == "required" {
		if o.Truststore != "" {
			if cfg.ClientCAs, err = LoadTruststore(fs, o.Truststore, o.TruststorePassword, o.TruststoreType); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// ClientConfig builds the sink's TLS configuration. Like Flume it verifies
// the server's chain against the truststore (or the system roots) and, by
// default, not its name.
func (o TLSOptions) ClientConfig(fs vfs.FS) (*tls.Config, error) {
	cfg, err := o.base(false)
	if err != nil {
		return nil, err
	}
	if o.Keystore != "" {
		cert, err := LoadKeystore(fs, o.Keystore, o.KeystorePassword, o.KeystoreType)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.TrustAll {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	var roots *x509.CertPool
	if o.Truststore != "" {
		if roots, err = LoadTruststore(fs, o.Truststore, o.TruststorePassword, o.TruststoreType); err != nil {
			return nil, err
		}
	}
	if o.VerifyHostname {
		cfg.RootCAs, cfg.ServerName = roots, o.ServerName
		return cfg, nil
	}
	// Chain only: crypto/tls cannot skip just the name check, so verify
	// the chain ourselves.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("server sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("server certificate not trusted (truststore %q): %w", o.Truststore, err)
		}
		return nil
	}
	return cfg, nil
}

// storeFormat tells a keystore's real format from its first bytes.
func storeFormat(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xfe, 0xed, 0xfe, 0xed}):
		return "JKS"
	case bytes.HasPrefix(data, []byte{0xce, 0xce, 0xce, 0xce}):
		return "JCEKS"
	case len(data) > 0 && data[0] == 0x30:
		return "PKCS12"
	case bytes.Contains(data, []byte("-----BEGIN")):
		return "PEM"
	}
	return "unknown"
}

// LoadKeystore reads a key and its certificate chain from a JKS, PKCS#12
// or PEM file (the format is detected; typ is only used in messages).
func LoadKeystore(fs vfs.FS, path, password, typ string) (tls.Certificate, error) {
	fail := func(err error) (tls.Certificate, error) {
		return tls.Certificate{}, fmt.Errorf("keystore %s (keystore-type %s): %w", path, orDefault(typ, "JKS"), err)
	}
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return fail(err)
	}
	switch f := storeFormat(data); f {
	case "PEM":
		cert, err := tls.X509KeyPair(data, data)
		if err != nil {
			return fail(fmt.Errorf("PEM keystore must hold a private key and its certificate chain: %w", err))
		}
		return cert, nil
	case "PKCS12":
		key, leaf, cas, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			return fail(fmt.Errorf("PKCS#12: %w (is keystore-password right?)", err))
		}
		cert := tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
		for _, c := range cas {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		return cert, nil
	case "JKS":
		ks := keystore.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return fail(fmt.Errorf("JKS: %w (is keystore-password right?)", err))
		}
		for _, alias := range sortedAliases(ks) {
			if !ks.IsPrivateKeyEntry(alias) {
				continue
			}
			e, err := ks.GetPrivateKeyEntry(alias, []byte(password))
			if err != nil {
				return fail(fmt.Errorf("JKS entry %q: %w (Flume uses keystore-password for the key too)", alias, err))
			}
			key, err := x509.ParsePKCS8PrivateKey(e.PrivateKey)
			if err != nil {
				return fail(fmt.Errorf("JKS entry %q: private key: %w", alias, err))
			}
			cert := tls.Certificate{PrivateKey: key}
			for _, c := range e.CertificateChain {
				cert.Certificate = append(cert.Certificate, c.Content)
			}
			if len(cert.Certificate) == 0 {
				return fail(fmt.Errorf("JKS entry %q has no certificate", alias))
			}
			return cert, nil
		}
		return fail(errors.New("JKS keystore holds no private key entry"))
	case "JCEKS":
		return fail(errors.New("JCEKS keystores are not supported; convert with keytool -importkeystore -deststoretype PKCS12"))
	default:
		return fail(errors.New("not a JKS, PKCS#12 or PEM file"))
	}
}

// LoadTruststore reads trusted certificates from a JKS, PKCS#12 or PEM
// file.
func LoadTruststore(fs vfs.FS, path, password, typ string) (*x509.CertPool, error) {
	fail := func(err error) (*x509.CertPool, error) {
		return nil, fmt.Errorf("truststore %s (truststore-type %s): %w", path, orDefault(typ, "JKS"), err)
	}
	data, err := vfs.ReadFile(fs, path)
	if err != nil {
		return fail(err)
	}
	pool := x509.NewCertPool()
	switch storeFormat(data) {
	case "PEM":
		if !pool.AppendCertsFromPEM(data) {
			return fail(errors.New("no CERTIFICATE blocks"))
		}
		return pool, nil
	case "PKCS12":
		certs, err := pkcs12.DecodeTrustStore(data, password)
		if err != nil {
			// A keystore used as truststore: trust its chain.
			_, leaf, cas, err2 := pkcs12.DecodeChain(data, password)
			if err2 != nil {
				return fail(fmt.Errorf("PKCS#12: %w", err))
			}
			certs = append([]*x509.Certificate{leaf}, cas...)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
		return pool, nil
	case "JKS":
		ks := keystore.New()
		if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
			return fail(fmt.Errorf("JKS: %w (is truststore-password right?)", err))
		}
		n := 0
		for _, alias := range sortedAliases(ks) {
			if e, err := ks.GetTrustedCertificateEntry(alias); err == nil {
				c, err := x509.ParseCertificate(e.Certificate.Content)
				if err != nil {
					return fail(fmt.Errorf("JKS entry %q: %w", alias, err))
				}
				pool.AddCert(c)
				n++
			}
		}
		if n == 0 {
			return fail(errors.New("JKS truststore holds no trusted certificate entry"))
		}
		return pool, nil
	case "JCEKS":
		return fail(errors.New("JCEKS truststores are not supported; convert with keytool -importkeystore -deststoretype PKCS12"))
	}
	return fail(errors.New("not a JKS, PKCS#12 or PEM file"))
}

func sortedAliases(ks keystore.KeyStore) []string {
	a := ks.Aliases()
	sort.Strings(a)
	return a
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
