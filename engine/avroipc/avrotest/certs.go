// Package avrotest makes TLS material for tests of the avro source, sink
// and client: a CA, a server and a client certificate, written as PEM,
// PKCS#12 and JKS stores the way Flume users have them.
package avrotest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/vfs"
	"software.sslmate.com/src/go-pkcs12"
)

// Password protects every store Certs writes.
const Password = "changeit"

// Files are the paths Certs wrote.
type Files struct {
	CAPEM string // the CA certificate

	ServerPEM, ServerP12, ServerJKS string // key + chain for the server
	ClientPEM, ClientP12, ClientJKS string // key + chain for a client
	// TrustP12 and TrustJKS hold the CA as a trusted certificate entry.
	TrustP12, TrustJKS string
	// OtherCAPEM is a CA that signed nothing here.
	OtherCAPEM string
}

// now reads the wall clock through the engine's seam: certificates are
// checked against real time.
func now() time.Time { return clock.Real().Now() }

type keyPair struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newCA(t testing.TB, name string) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now().Add(-time.Hour), NotAfter: now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return keyPair{key, cert}
}

func newLeaf(t testing.TB, ca keyPair, name string, serial int64, usage x509.ExtKeyUsage) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: now().Add(-time.Hour), NotAfter: now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return keyPair{key, cert}
}

// Certs writes a fresh CA, server and client certificates into dir.
func Certs(t testing.TB, dir string) Files {
	t.Helper()
	ca := newCA(t, "sluice test CA")
	other := newCA(t, "unrelated CA")
	server := newLeaf(t, ca, "localhost", 2, x509.ExtKeyUsageServerAuth)
	client := newLeaf(t, ca, "sluice test client", 3, x509.ExtKeyUsageClientAuth)
	f := Files{
		CAPEM: filepath.Join(dir, "ca.pem"), OtherCAPEM: filepath.Join(dir, "other-ca.pem"),
		ServerPEM: filepath.Join(dir, "server.pem"), ServerP12: filepath.Join(dir, "server.p12"), ServerJKS: filepath.Join(dir, "server.jks"),
		ClientPEM: filepath.Join(dir, "client.pem"), ClientP12: filepath.Join(dir, "client.p12"), ClientJKS: filepath.Join(dir, "client.jks"),
		TrustP12: filepath.Join(dir, "trust.p12"), TrustJKS: filepath.Join(dir, "trust.jks"),
	}
	write := func(path string, data []byte) {
		if err := vfs.WriteFileAtomic(vfs.OS{}, path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	write(f.CAPEM, certPEM(ca.cert))
	write(f.OtherCAPEM, certPEM(other.cert))
	for _, kp := range []struct {
		pair          keyPair
		pemF, p12, jk string
	}{{server, f.ServerPEM, f.ServerP12, f.ServerJKS}, {client, f.ClientPEM, f.ClientP12, f.ClientJKS}} {
		pk8, err := x509.MarshalPKCS8PrivateKey(kp.pair.key)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: pk8})
		b.Write(certPEM(kp.pair.cert))
		b.Write(certPEM(ca.cert))
		write(kp.pemF, b.Bytes())
		p12, err := pkcs12.Modern2023.Encode(kp.pair.key, kp.pair.cert, []*x509.Certificate{ca.cert}, Password)
		if err != nil {
			t.Fatal(err)
		}
		write(kp.p12, p12)
		ks := keystore.New()
		err = ks.SetPrivateKeyEntry("key", keystore.PrivateKeyEntry{
			CreationTime: now(), PrivateKey: pk8,
			CertificateChain: []keystore.Certificate{{Type: "X509", Content: kp.pair.cert.Raw}, {Type: "X509", Content: ca.cert.Raw}},
		}, []byte(Password))
		if err != nil {
			t.Fatal(err)
		}
		var jb bytes.Buffer
		if err := ks.Store(&jb, []byte(Password)); err != nil {
			t.Fatal(err)
		}
		write(kp.jk, jb.Bytes())
	}
	tp12, err := pkcs12.Modern2023.EncodeTrustStore([]*x509.Certificate{ca.cert}, Password)
	if err != nil {
		t.Fatal(err)
	}
	write(f.TrustP12, tp12)
	ts := keystore.New()
	if err := ts.SetTrustedCertificateEntry("ca", keystore.TrustedCertificateEntry{CreationTime: now(), Certificate: keystore.Certificate{Type: "X509", Content: ca.cert.Raw}}); err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	if err := ts.Store(&tb, []byte(Password)); err != nil {
		t.Fatal(err)
	}
	write(f.TrustJKS, tb.Bytes())
	return f
}
