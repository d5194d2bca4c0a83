package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fhirlake/fhirlake/internal/goruntime"
)

// DatabaseURLEnv names the environment variable that points tests at a PostgreSQL server, e.g.
// postgres://postgres@127.0.0.1:5432/postgres. When it is set, a server that cannot be reached
// fails the tests that need it instead of skipping them.
const DatabaseURLEnv = "TEST_DATABASE_URL"

// StoreEnv selects the backend of the end-to-end suites (servertest): "postgres" runs them on
// PostgreSQL (see Postgres), anything else on SQLite.
const StoreEnv = "FHIRLAKE_TEST_STORE"

// cluster is the PostgreSQL server this test process started because DatabaseURLEnv was not set.
// It is shared by every test of the process (schemas keep them apart) and stopped by Main.
var cluster struct {
	once sync.Once
	srv  *PostgresServer
	err  error
}

// Main runs the tests of a package with the service's runtime settings (goruntime.Configure), and then
// stops the PostgreSQL server it started, if any. Use it as: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	goruntime.Configure() // as the service does
	code := m.Run()
	if cluster.srv != nil {
		cluster.srv.remove()
	}
	return code
}

// PostgresBase returns the URL of a PostgreSQL server for tests: DatabaseURLEnv when set, else a
// server started for this process in a temporary folder (initdb and postgres found on PATH or
// in /usr/lib/postgresql/*/bin, run as the postgres user when the tests run as root). It skips
// the test when neither is available.
func PostgresBase(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(DatabaseURLEnv); u != "" {
		return u
	}
	cluster.once.Do(func() { cluster.srv, cluster.err = newPostgresServer() })
	if cluster.err != nil {
		tb.Skipf("PostgreSQL tests skipped: %s is not set and no server could be started here: %v", DatabaseURLEnv, cluster.err)
	}
	return cluster.srv.URL
}

// PostgresServer is a PostgreSQL server of a test's own, in a temporary folder, reached over a
// Unix socket there (no TCP port). A test that stops and restarts the database uses one.
type PostgresServer struct {
	URL      string
	dir      string
	postgres string
	cred     *syscall.Credential
	proc     *os.Process
	done     chan struct{}
}

// StartPostgres starts a PostgreSQL server for tb alone, removed when tb ends; it skips when no
// server can be started here.
func StartPostgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	srv, err := newPostgresServer()
	if err != nil {
		tb.Skipf("PostgreSQL server of its own: %v", err)
	}
	tb.Cleanup(srv.remove)
	return srv
}

// newPostgresServer initialises a cluster in a temporary folder and starts it.
func newPostgresServer() (*PostgresServer, error) {
	initdb, err := pgBin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := pgBin("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fhirlake-pgtest-")
	if err != nil {
		return nil, err
	}
	srv := &PostgresServer{dir: dir, postgres: postgres, URL: "postgres://postgres@/postgres?host=" + url.QueryEscape(dir)}
	if os.Geteuid() == 0 {
		// The server refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		srv.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	cmd := exec.Command(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: srv.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := srv.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return srv, nil
}

// Start starts the server (again, after Stop) and waits until it accepts connections.
func (srv *PostgresServer) Start() error {
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		// Pdeathsig is delivered when the thread that started the child exits, so that thread is
		// kept for the child's whole life: the kernel stops the server if this process dies.
		runtime.LockOSThread()
		cmd := exec.Command(srv.postgres, "-D", filepath.Join(srv.dir, "data"), "-k", srv.dir, "-c", "listen_addresses=",
			"-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=128MB")
		cmd.Dir = srv.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: srv.cred, Pdeathsig: syscall.SIGINT}
		logf, err := os.OpenFile(filepath.Join(srv.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			cmd.Stdout, cmd.Stderr = logf, logf
			defer logf.Close()
		}
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		srv.proc = cmd.Process
		started <- nil
		cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	srv.done = done
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, srv.URL)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(srv.dir, "server.log"))
			return fmt.Errorf("postgres exited: %s", strings.TrimSpace(string(log)))
		default:
		}
		if time.Now().After(deadline) {
			srv.Stop()
			return fmt.Errorf("postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server with a fast shutdown: open connections are closed.
func (srv *PostgresServer) Stop() {
	if srv.proc == nil {
		return
	}
	srv.proc.Signal(syscall.SIGINT)
	select {
	case <-srv.done:
	case <-time.After(30 * time.Second):
		srv.proc.Kill()
		<-srv.done
	}
	srv.proc = nil
}

// remove stops the server and deletes its folder.
func (srv *PostgresServer) remove() {
	srv.Stop()
	os.RemoveAll(srv.dir)
}

// Postgres returns a connection URL to a fresh, empty schema (it is the URL's search_path), dropped
// when the test ends.
func Postgres(tb testing.TB) string {
	tb.Helper()
	base := PostgresBase(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", DatabaseURLEnv, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(tb, base, schema)
}

// WithSearchPath returns u with its search_path set to schema.
func WithSearchPath(tb testing.TB, u, schema string) string {
	tb.Helper()
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatalf("%s is not a URL: %v", DatabaseURLEnv, err)
	}
	q := p.Query()
	q.Set("search_path", schema)
	p.RawQuery = q.Encode()
	return p.String()
}

// pgBin finds a PostgreSQL server program.
func pgBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob(filepath.Join("/usr/lib/postgresql", "*", "bin", name))
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
	}
	return matches[len(matches)-1], nil
}

// PostgresCPU returns a function that reports the CPU time (user + system, all processes) the
// PostgreSQL server of url has used so far, or nil when that server does not run on this machine
// where its files can be read. Benchmarks report it per unit of work, which a loaded machine
// disturbs far less than elapsed time.
func PostgresCPU(tb testing.TB, url string) func() time.Duration {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	var dir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if _, err := procTimes(pid); err != nil {
		return nil
	}
	return func() time.Duration {
		// The postmaster's own time and that of the backends it reaped, plus its live children.
		total, _ := procTimes(pid)
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			f := statFields(string(st))
			if len(f) > 15 && f[3] == pid {
				u, _ := strconv.ParseInt(f[13], 10, 64)
				s, _ := strconv.ParseInt(f[14], 10, 64)
				total += time.Duration(u+s) * time.Second / 100
			}
		}
		return total
	}
}

// procTimes returns utime + stime + cutime + cstime of a process.
func procTimes(pid string) (time.Duration, error) {
	st, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, err
	}
	f := statFields(string(st))
	if len(f) < 17 {
		return 0, errors.New("short stat")
	}
	var ticks int64
	for _, i := range []int{13, 14, 15, 16} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	// Clock ticks are 1/100 s on Linux (USER_HZ).
	return time.Duration(ticks) * time.Second / 100, nil
}

// statFields splits /proc/<pid>/stat, whose second field (the command) may hold spaces.
func statFields(s string) []string {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return append([]string{"pid", "comm"}, strings.Fields(s[i+1:])...)
}
