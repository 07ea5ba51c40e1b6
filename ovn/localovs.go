package ovn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// The local Open vSwitch database (vswitch.ovsschema) is read with a
// short-lived libovsdb client, not with ovs-vsctl: a strictly confined
// snap has no ovs-vsctl and reaches only the database socket (snapd's
// openvswitch interface grants /run/openvswitch/db.sock; MicroOVN's
// ovn-chassis content slot shares the directory that holds db.sock and
// the bridges' <bridge>.mgmt sockets).

// localOVSTimeout bounds one read of the local OVS database (connect,
// select, close) when the caller's context has no deadline of its own (a
// variable for tests).
var localOVSTimeout = 5 * time.Second

// systemOVSSockets are where LocalOVSEndpoint looks for the local OVS
// database, in order, after $OVS_RUNDIR and before $SNAP_DATA's plug
// target (a variable for tests).
var systemOVSSockets = []string{
	"/run/openvswitch/db.sock",
	"/var/run/openvswitch/db.sock",
	"/var/snap/microovn/common/run/switch/db.sock", // MicroOVN, seen from the host
}

// snapOVSSocket is, under $SNAP_DATA, where the snap's ovn-chassis plug
// mounts MicroOVN's run/switch directory.
const snapOVSSocket = "microovn/chassis/switch/db.sock"

// LocalOVSEndpoint returns the endpoint ("unix:/abs/path") of the local
// Open vSwitch database. explicit, when not empty, is used as given: a
// unix:PATH endpoint or a bare absolute path (a tcp: or ssl: endpoint is
// refused, since ovs-ofctl reaches the bridges through the <bridge>.mgmt
// sockets beside db.sock). Otherwise $OVS_RUNDIR/db.sock when OVS_RUNDIR
// is set (as the OVS tools do); otherwise the first socket that exists of
// /run/openvswitch/db.sock, /var/run/openvswitch/db.sock,
// /var/snap/microovn/common/run/switch/db.sock and, when $SNAP_DATA is
// set, $SNAP_DATA/microovn/chassis/switch/db.sock (the snap's ovn-chassis plug: MicroOVN shares its run/switch directory).
func LocalOVSEndpoint(explicit string) (string, error) {
	if strings.TrimSpace(explicit) != "" {
		return localOVSExplicit(explicit)
	}
	if d := os.Getenv("OVS_RUNDIR"); d != "" {
		return localOVSExplicit(filepath.Join(d, "db.sock"))
	}
	candidates := append([]string{}, systemOVSSockets...)
	if d := os.Getenv("SNAP_DATA"); d != "" {
		candidates = append(candidates, filepath.Join(d, snapOVSSocket))
	}
	tried := make([]string, 0, len(candidates))
	for _, p := range candidates {
		_, err := os.Stat(p)
		if err == nil {
			return localOVSExplicit(p)
		}
		why := "absent"
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
			why = pe.Err.Error()
		}
		tried = append(tried, fmt.Sprintf("%s (%s)", p, why))
	}
	return "", fmt.Errorf("no local Open vSwitch database socket found: OVS_RUNDIR is not set, tried %s; "+
		"set OVNFWD_OVS (--ovs) to its unix:PATH, or, in the snap, connect the openvswitch or ovn-chassis plug",
		strings.Join(tried, ", "))
}

// localOVSExplicit normalizes a unix:PATH or bare absolute path to
// "unix:/abs/path".
func localOVSExplicit(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		return parseEndpoint("unix:" + s)
	}
	scheme, _, _ := strings.Cut(s, ":")
	switch scheme {
	case "unix":
		return parseEndpoint(s)
	case "tcp", "ssl":
		return "", fmt.Errorf("local OVS database %q: want a unix socket (unix:PATH or an absolute path): "+
			"ovs-ofctl reaches the bridges through the <bridge>.mgmt sockets beside db.sock", s)
	}
	return "", fmt.Errorf("local OVS database %q: want unix:PATH or an absolute path to db.sock", s)
}

// The columns of the local OVS database that ovnfwd reads (libovsdb maps
// only the columns a model has, and checks them against the server's
// schema when it connects).
const (
	ovsRootTable      = "Open_vSwitch"
	ovsBridgeTable    = "Bridge"
	ovsPortTable      = "Port"
	ovsInterfaceTable = "Interface"
)

type ovsRoot struct {
	UUID        string            `ovsdb:"_uuid"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type ovsBridge struct {
	UUID  string   `ovsdb:"_uuid"`
	Name  string   `ovsdb:"name"`
	Ports []string `ovsdb:"ports"`
}

type ovsPort struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
	Interfaces  []string          `ovsdb:"interfaces"`
}

type ovsInterface struct {
	UUID      string            `ovsdb:"_uuid"`
	Name      string            `ovsdb:"name"`
	Ofport    *int              `ovsdb:"ofport"`
	Error     *string           `ovsdb:"error"`
	BFD       map[string]string `ovsdb:"bfd"`
	BFDStatus map[string]string `ovsdb:"bfd_status"`
}

func localOVSClientModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		ovsRootTable:      &ovsRoot{},
		ovsBridgeTable:    &ovsBridge{},
		ovsPortTable:      &ovsPort{},
		ovsInterfaceTable: &ovsInterface{},
	})
}

// localOVS is one short-lived connection to the local OVS database.
type localOVS struct {
	endpoint string
	cl       client.Client
	dbModel  model.DatabaseModel
}

// withLocalOVS connects to the local OVS database at endpoint (resolved by
// LocalOVSEndpoint: "" finds it), runs f and disconnects. The whole call
// is bounded by ctx, and by localOVSTimeout when ctx has no deadline.
func withLocalOVS(ctx context.Context, endpoint string, f func(ctx context.Context, db *localOVS) error) error {
	ep, err := LocalOVSEndpoint(endpoint)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, localOVSTimeout)
		defer cancel()
	}
	cm, err := localOVSClientModel()
	if err != nil {
		return err
	}
	// No reconnect, no leader check (the local database is standalone),
	// no monitor: a few selects, then Close.
	cl, err := client.NewOVSDBClient(cm, client.WithEndpoint(ep), client.WithLeaderOnly(false))
	if err != nil {
		return fmt.Errorf("local OVS database client: %w", err)
	}
	defer cl.Close()
	if err := cl.Connect(ctx); err != nil {
		return fmt.Errorf("connect to the local OVS database %s: %w%s", ep, err, connectHint(err))
	}
	tc := cl.Cache()
	if tc == nil {
		return fmt.Errorf("local OVS database %s: disconnected right after connecting", ep)
	}
	return f(ctx, &localOVS{endpoint: ep, cl: cl, dbModel: tc.DatabaseModel()})
}

// connectHint says what usually fixes a failed connection to the socket.
func connectHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return " (in the snap: connect the openvswitch or ovn-chassis plug; else run as a user that may open the socket)"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return " (is ovsdb-server running? else set OVNFWD_OVS (--ovs) to the socket of the local OVS database)"
	}
	return ""
}

// selectInto runs one select of table (where, columns) and appends the rows,
// as models of type T, to *out.
func selectInto[T any](ctx context.Context, db *localOVS, table string, where []ovsdb.Condition, columns []string, out *[]*T) error {
	op := ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table, Where: where, Columns: append([]string{"_uuid"}, columns...)}
	if op.Where == nil {
		op.Where = []ovsdb.Condition{}
	}
	res, err := db.cl.Transact(ctx, op)
	if err != nil {
		return fmt.Errorf("select %s in the local OVS database %s: %w", table, db.endpoint, err)
	}
	rows, err := selectRows(res)
	if err != nil {
		return fmt.Errorf("select %s in the local OVS database %s: %w", table, db.endpoint, err)
	}
	for i := range rows {
		m, err := model.CreateModel(db.dbModel, table, &rows[i], rowUUID(rows[i]["_uuid"]))
		if err != nil {
			return fmt.Errorf("%s row of the local OVS database: %w", table, err)
		}
		t, ok := m.(*T)
		if !ok {
			return fmt.Errorf("%s row of the local OVS database: model %T", table, m)
		}
		*out = append(*out, t)
	}
	return nil
}

// root reads the Open_vSwitch row's external_ids.
func (db *localOVS) root(ctx context.Context) (*ovsRoot, error) {
	var rows []*ovsRoot
	if err := selectInto(ctx, db, ovsRootTable, nil, []string{"external_ids"}, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("the local OVS database %s has no Open_vSwitch row (not initialized: ovs-vsctl init, or start Open vSwitch)", db.endpoint)
	}
	return rows[0], nil
}
