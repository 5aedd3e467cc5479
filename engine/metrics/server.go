package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// JSON renders the registry as Flume's /metrics body: a map from
// "TYPE.name" to a map of attribute name to string value. With extended,
// Sluice's extra attributes and SINKGROUP entries are included too.
func (r *Registry) JSON(extended bool) ([]byte, error) {
	out := map[string]map[string]string{}
	for _, g := range r.Groups() {
		if g.typ == SinkGroup && !extended {
			continue
		}
		m := map[string]string{}
		for _, v := range g.Values() {
			if v.Extra && !extended {
				continue
			}
			m[v.Name] = v.Value
		}
		out[g.Key()] = m
	}
	return json.Marshal(out)
}

// Handler serves "/" (an index page), "/metrics" (Flume's JSON) and
// "/prometheus" (Prometheus text), answering TRACE and OPTIONS with 403 as
// Flume's Jetty server does.
func (r *Registry) Handler() http.Handler {
	preg := prometheus.NewRegistry()
	preg.MustRegister(collector{r})
	prom := promhttp.HandlerFor(preg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodTrace || req.Method == http.MethodOptions {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		switch strings.ToLower(req.URL.Path) {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<html><body><h1>Sluice</h1><p><a href="./metrics">Metrics (Flume JSON)</a></p><p><a href="./prometheus">Metrics (Prometheus)</a></p></body></html>`)
		case "/metrics":
			b, err := r.JSON(req.URL.Query().Get("extended") != "")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			w.Write(b)
		case "/prometheus":
			prom.ServeHTTP(w, req)
		default:
			http.NotFound(w, req)
		}
	})
}

// Server is the HTTP monitoring server of one agent.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	done chan struct{}
}

// Serve starts serving r on addr ("127.0.0.1:41414"; a bare port binds
// 127.0.0.1). The server runs until Close.
func Serve(r *Registry, addr string, log *slog.Logger) (*Server, error) {
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics server: listen %s: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: r.Handler()}, ln: ln, log: log, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for it.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

type collector struct{ r *Registry }

func (collector) Describe(chan<- *prometheus.Desc) {} // unchecked: groups come and go

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c.r.Groups() {
		typ := strings.ToLower(string(g.typ))
		for _, v := range g.Values() {
			base := v.Name
			labels, values := []string{"name"}, []string{g.name}
			if v.Label != "" {
				base = v.Base
				labels, values = append(labels, v.Label), append(values, v.Member)
			}
			name := "sluice_" + typ + "_" + snake(base)
			switch v.Kind {
			case KindInfo:
				if v.Name == "Type" {
					continue
				}
				d := prometheus.NewDesc(name+"_info", base+" of a "+typ, append(labels, "value"), nil)
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, append(values, v.Value)...)
			default:
				f, err := parseFloat(v.Value)
				if err != nil {
					continue
				}
				vt := prometheus.CounterValue
				if v.Kind == KindGauge {
					vt = prometheus.GaugeValue
				}
				d := prometheus.NewDesc(name, "Flume "+base+" of a "+typ, labels, nil)
				ch <- prometheus.MustNewConstMetric(d, vt, f, values...)
			}
		}
	}
}

func parseFloat(s string) (float64, error) {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return f, err
}

// snake turns "EventPutSuccessCount" into "event_put_success_count".
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
