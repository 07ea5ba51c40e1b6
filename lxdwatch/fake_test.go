package lxdwatch

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canonical/lxd/shared"
	"github.com/canonical/lxd/shared/api"
	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"
)

// fakeLXD serves the parts of the LXD REST API lxdwatch uses, on a unix
// socket, from in-memory objects.
type fakeLXD struct {
	t    testing.TB
	sock string
	srv  *httptest.Server

	mu       sync.Mutex
	server   api.Server
	projects []api.Project
	networks map[string][]api.Network        // by project that holds them
	forwards map[string][]api.NetworkForward // by "project/network"
	lbs      map[string][]api.NetworkLoadBalancer
	states   map[string]api.NetworkState
	members  []api.ClusterMember
	insts    []api.Instance // Project set
	fail     map[string]int // request path (without query) + "?project=" → HTTP status
	requests map[string]int // path → count

	// Events.
	pingEvery  time.Duration // 0: never ping
	noRead     bool          // do not read (so client pings are not answered)
	conns      map[*fakeConn]bool
	accepted   atomic.Int64
	pongs      atomic.Int64
	acceptedCh chan struct{}
	wg         sync.WaitGroup

	refuseEvents atomic.Int32 // answer that many events requests with 503
	refused      atomic.Int32
}

type fakeConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
	once sync.Once
}

func (c *fakeConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

func newFakeLXD(t testing.TB) *fakeLXD {
	t.Helper()
	f := &fakeLXD{
		t: t,
		server: api.Server{
			ServerUntrusted: api.ServerUntrusted{
				// LXD 5.0.2's extensions plus network load balancers (5.x).
				APIExtensions: append(lxd502Extensions(t), "network_load_balancer"),
				APIStatus:     "stable",
				APIVersion:    "1.0",
				Auth:          "trusted",
			},
			Environment: api.ServerEnvironment{Server: "lxd", ServerVersion: "5.21.4", ServerName: "node1", Project: "default"},
		},
		projects:   []api.Project{{Name: "default", Config: map[string]string{"features.networks": "true"}}},
		networks:   map[string][]api.Network{},
		forwards:   map[string][]api.NetworkForward{},
		lbs:        map[string][]api.NetworkLoadBalancer{},
		states:     map[string]api.NetworkState{},
		fail:       map[string]int{},
		requests:   map[string]int{},
		conns:      map[*fakeConn]bool{},
		acceptedCh: make(chan struct{}, 100),
	}
	f.sock = filepath.Join(t.TempDir(), "lxd.sock")
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener = l
	f.srv.Start()
	t.Cleanup(f.close)
	return f
}

// newFakeLXDHTTPS serves the fake over https on 127.0.0.1 and returns a
// Config (with certificate files) that reaches it.
func newFakeLXDHTTPS(t testing.TB) (*fakeLXD, Config) {
	t.Helper()
	f := newFakeLXD(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvCert, srvKey, err := shared.GenerateMemCert(false, shared.CertOptions{CommonName: "lxd-test", AddHosts: true})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, cliKey, err := shared.GenerateMemCert(true, shared.CertOptions{CommonName: "ovnfwd"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return f, Config{
		URL:        srv.URL,
		ClientCert: write("client.crt", cliCert),
		ClientKey:  write("client.key", cliKey),
		ServerCert: write("server.crt", srvCert),
		Logger:     zaptest.NewLogger(t),
	}
}

func (f *fakeLXD) close() {
	f.dropAll()
	f.srv.Close()
	f.wg.Wait()
}

// dropAll closes every events connection, as an LXD restart would.
func (f *fakeLXD) dropAll() {
	f.mu.Lock()
	conns := f.conns
	f.conns = map[*fakeConn]bool{}
	f.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

// emit sends ev to every events connection.
func (f *fakeLXD) emit(ev api.Event) {
	f.mu.Lock()
	conns := make([]*fakeConn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		c.wmu.Lock()
		_ = c.ws.WriteJSON(ev)
		c.wmu.Unlock()
	}
}

// waitAccepted waits until n events connections were accepted in total.
func (f *fakeLXD) waitAccepted(n int64, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for f.accepted.Load() < n {
		select {
		case <-f.acceptedCh:
		case <-deadline:
			return false
		}
	}
	return true
}

func (f *fakeLXD) addProject(name string, networks bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.projects = append(f.projects, api.Project{Name: name,
		Config: map[string]string{"features.networks": fmt.Sprint(networks)}})
}

func (f *fakeLXD) addNetwork(project, name, typ string, config map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks[project] = append(f.networks[project], api.Network{Name: name, Type: typ, Managed: true, Config: config})
}

func (f *fakeLXD) addInstance(project, name string, devices map[string]map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insts = append(f.insts, api.Instance{Name: name, Project: project, ExpandedDevices: devices})
}

func (f *fakeLXD) addForward(project, network string, fwd api.NetworkForward) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := project + "/" + network
	f.forwards[k] = append(f.forwards[k], fwd)
}

func (f *fakeLXD) addLB(project, network, listen string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := project + "/" + network
	f.lbs[k] = append(f.lbs[k], api.NetworkLoadBalancer{ListenAddress: listen})
}

func (f *fakeLXD) failOn(path, project string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if project == "" {
		project = "default"
	}
	f.fail[path+"?project="+project] = code
}

func (f *fakeLXD) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// effective returns the project holding networks for the requested one.
func (f *fakeLXD) effective(project string) (string, bool) {
	if project == "" {
		project = "default"
	}
	for _, p := range f.projects {
		if p.Name == project {
			if p.Config["features.networks"] == "true" {
				return project, true
			}
			return "default", true
		}
	}
	return "", false
}

func writeSync(w http.ResponseWriter, md any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "sync", "status": "Success", "status_code": 200, "operation": "", "error_code": 0, "error": "", "metadata": md,
	})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": msg, "error_code": code, "metadata": nil})
}

func (f *fakeLXD) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/1.0/events" {
		f.serveEvents(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.URL.Path]++
	reqProject := r.URL.Query().Get("project")
	if reqProject == "" {
		reqProject = "default"
	}
	if code, ok := f.fail[r.URL.Path+"?project="+reqProject]; ok {
		writeError(w, code, "injected failure")
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/1.0/cluster/members/"); ok {
		f.serveMember(w, r, name)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusNotImplemented, "not implemented")
		return
	}
	project, ok := f.effective(r.URL.Query().Get("project"))
	if !ok {
		writeError(w, http.StatusNotFound, "Project not found")
		return
	}
	recursion := r.URL.Query().Get("recursion") == "1"
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/1.0"), "/")[1:]
	if r.URL.Path == "/1.0" {
		segs = nil
	}
	switch {
	case len(segs) == 0:
		writeSync(w, f.server)
	case len(segs) == 1 && segs[0] == "projects" && recursion:
		writeSync(w, f.projects)
	case len(segs) == 2 && segs[0] == "cluster" && segs[1] == "members" && recursion:
		writeSync(w, f.members)
	case segs[0] == "networks":
		f.serveNetworks(w, project, segs[1:], recursion)
	case len(segs) == 1 && segs[0] == "instances" && recursion:
		out := []api.Instance{}
		for _, in := range f.insts {
			if r.URL.Query().Get("all-projects") == "true" || in.Project == reqProject {
				out = append(out, in)
			}
		}
		writeSync(w, out)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func (f *fakeLXD) serveNetworks(w http.ResponseWriter, project string, segs []string, recursion bool) {
	if len(segs) == 0 {
		if !recursion {
			writeError(w, http.StatusBadRequest, "fake serves recursion=1 only")
			return
		}
		nets := f.networks[project]
		if nets == nil {
			nets = []api.Network{}
		}
		writeSync(w, nets)
		return
	}
	var net *api.Network
	for i := range f.networks[project] {
		if f.networks[project][i].Name == segs[0] {
			net = &f.networks[project][i]
		}
	}
	if net == nil {
		writeError(w, http.StatusNotFound, "Network not found")
		return
	}
	k := project + "/" + segs[0]
	switch {
	case len(segs) == 1:
		writeSync(w, net)
	case len(segs) == 2 && segs[1] == "state":
		writeSync(w, f.states[k])
	case len(segs) == 2 && segs[1] == "forwards" && recursion:
		if net.Type == "bridge" {
			f.t.Errorf("forwards of non-OVN network %s listed", k)
		}
		fwds := f.forwards[k]
		if fwds == nil {
			fwds = []api.NetworkForward{}
		}
		writeSync(w, fwds)
	case len(segs) == 3 && segs[1] == "forwards":
		for _, fwd := range f.forwards[k] {
			if fwd.ListenAddress == segs[2] {
				writeSync(w, fwd)
				return
			}
		}
		writeError(w, http.StatusNotFound, "Network forward not found")
	case len(segs) == 2 && segs[1] == "load-balancers" && recursion:
		lbs := f.lbs[k]
		if lbs == nil {
			lbs = []api.NetworkLoadBalancer{}
		}
		writeSync(w, lbs)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

var upgrader = websocket.Upgrader{}

func (f *fakeLXD) serveEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("type") != "lifecycle" || q.Get("all-projects") != "true" {
		f.t.Errorf("events requested with %q", r.URL.RawQuery)
	}
	if f.refuseEvents.Add(-1) >= 0 {
		f.refused.Add(1)
		writeError(w, http.StatusServiceUnavailable, "daemon starting")
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, done: make(chan struct{})}
	f.mu.Lock()
	f.conns[c] = true
	pingEvery, noRead := f.pingEvery, f.noRead
	f.mu.Unlock()
	ws.SetPongHandler(func(string) error { f.pongs.Add(1); return nil })
	if !noRead {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.close()
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	if pingEvery > 0 {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			t := time.NewTicker(pingEvery)
			defer t.Stop()
			for {
				select {
				case <-c.done:
					return
				case <-t.C:
					if ws.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(time.Second)) != nil {
						return
					}
				}
			}
		}()
	}
	f.accepted.Add(1)
	f.acceptedCh <- struct{}{}
}

// lxd502Extensions is the API extension list of LXD 5.0.2.
func lxd502Extensions(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/lxd-5.0.2-api-extensions.txt")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// connect connects a Client to the fake with test-friendly timings.
func (f *fakeLXD) connect(t testing.TB, tweak func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:            f.sock,
		Logger:         zaptest.NewLogger(t),
		IdleTimeout:    2 * time.Second,
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		CoalesceWindow: 20 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

// lifecycle builds a lifecycle event as LXD sends it.
func lifecycle(action, source, project string) api.Event {
	md, _ := json.Marshal(api.EventLifecycle{Action: action, Source: source})
	return api.Event{Type: "lifecycle", Timestamp: time.Now(), Metadata: md, Project: project, Location: "node1"}
}

// serveMember is GET and PUT of one cluster member (its config).
func (f *fakeLXD) serveMember(w http.ResponseWriter, r *http.Request, name string) {
	i := slices.IndexFunc(f.members, func(m api.ClusterMember) bool { return m.ServerName == name })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Cluster member not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeSync(w, f.members[i])
	case http.MethodPut:
		var put api.ClusterMemberPut
		if err := json.NewDecoder(r.Body).Decode(&put); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		m := &f.members[i]
		m.Description, m.FailureDomain, m.Roles, m.Config, m.Groups = put.Description, put.FailureDomain, put.Roles, put.Config, put.Groups
		writeSync(w, nil)
	default:
		writeError(w, http.StatusNotImplemented, "not implemented")
	}
}
