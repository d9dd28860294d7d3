package node_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvPatroni turns on the Patroni test (make test-ha): it needs the Debian
// packages patroni and etcd-server (make test-deps-ha) and takes about a
// minute, most of it Patroni's leader TTL.
const EnvPatroni = "PRESENCED_TEST_PATRONI"

// patroniProc is a process the test started in a process group of its own.
type patroniProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, log string, cred *syscall.Credential, name string, args ...string) *patroniProc {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &patroniProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop signals the process group and waits, killing it after 20 s.
func (p *patroniProc) stop(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type patroniMember struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	State string `json:"state"`
	Port  int    `json:"port"`
}

func patroniCluster(api int) []patroniMember {
	res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/cluster", api))
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var c struct{ Members []patroniMember }
	_ = json.NewDecoder(res.Body).Decode(&c)
	return c.Members
}

// One etcd, two Patroni-managed PostgreSQL in synchronous mode, two
// presenced nodes on both members' addresses with writers and subscribers;
// the leader (Patroni and PostgreSQL) is killed with SIGKILL. Patroni
// promotes the synchronous replica once the leader key expires; presenced
// follows by itself, loses no acknowledged write and resets no subscriber.
func TestPatroniFailover(t *testing.T) {
	if os.Getenv(EnvPatroni) == "" {
		t.Skip("make test-ha runs it (" + EnvPatroni + "=1)")
	}
	for _, bin := range []string{"patroni", "etcd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed: make test-deps-ha", bin)
		}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "presenced-patroni-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	_ = os.Chmod(dir, 0o711)

	etcdClient, etcdPeer := freeTCPPort(t), freeTCPPort(t)
	startProc(t, filepath.Join(dir, "etcd.log"), nil, "etcd", "--name", "e1", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdClient),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPeer),
		"--initial-cluster", fmt.Sprintf("e1=http://127.0.0.1:%d", etcdPeer), "--enable-v2=true")

	const password = "patroni-test-superuser-password"
	type member struct {
		name     string
		api, pg  int
		dataDir  string
		proc     *patroniProc
		patroniY string
	}
	var members []*member
	for i := 1; i <= 2; i++ {
		m := &member{name: fmt.Sprintf("m%d", i), api: freeTCPPort(t), pg: freeTCPPort(t)}
		home := filepath.Join(dir, m.name)
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = os.Chown(home, uid, gid)
		m.dataDir = filepath.Join(home, "data")
		// The configuration documented in docs/ha.md, with short timings.
		conf := fmt.Sprintf(`scope: presenced-test
name: %[1]s
restapi: {listen: "127.0.0.1:%[2]d", connect_address: "127.0.0.1:%[2]d"}
etcd: {host: "127.0.0.1:%[3]d"}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      parameters: {fsync: "off", max_connections: 100, hot_standby: "on"}
  initdb: [{encoding: UTF8}, {auth: scram-sha-256}]
  pg_hba:
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: "127.0.0.1:%[4]d"
  connect_address: "127.0.0.1:%[4]d"
  data_dir: %[5]s
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: %[6]s/pgpass
  authentication:
    superuser: {username: postgres, password: %[7]s}
    replication: {username: replicator, password: replicator-password}
  parameters: {unix_socket_directories: "%[6]s"}
`, m.name, m.api, etcdClient, m.pg, m.dataDir, home, password)
		m.patroniY = filepath.Join(home, "patroni.yml")
		if err := os.WriteFile(m.patroniY, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = os.Chown(m.patroniY, uid, gid)
		members = append(members, m)
	}
	for _, m := range members {
		m.proc = startProc(t, filepath.Join(dir, m.name+".log"), cred, "patroni", m.patroniY)
		time.Sleep(3 * time.Second) // the first bootstraps, the second clones it
	}
	// A leader and a synchronous standby, both running.
	var leader, replica *member
	for deadline := time.Now().Add(2 * time.Minute); leader == nil || replica == nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no leader with a synchronous standby: %+v", patroniCluster(members[0].api))
		}
		leader, replica = nil, nil
		for _, pm := range patroniCluster(members[0].api) {
			for _, m := range members {
				if pm.Name == m.name && pm.State == "running" {
					switch pm.Role {
					case "leader":
						leader = m
					case "sync_standby":
						replica = m
					}
				}
			}
		}
	}
	adminURL := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", password, leader.pg)
	mustExec(t, adminURL, "CREATE DATABASE presenced")
	url := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d,127.0.0.1:%d/presenced?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		password, members[0].pg, members[1].pg)

	agents := []string{"p1", "p2", "p3"}
	nodes := openHANodes(t, url, agents)
	topics := []string{"agents.*.presence"}
	live := subscribe(t, nodes[1].URL(), topics, "")
	waitSubscribed(t, nodes[1], 1)
	w := startWriters(t, nodes, agents, "w")
	defer w.stop()
	waitMessages(t, live, "w-", 30, 20*time.Second)

	// Patroni and its PostgreSQL (which Patroni starts in a session of
	// its own), as a dead machine.
	pidFile, err := os.ReadFile(filepath.Join(leader.dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = syscall.Kill(postmaster, syscall.SIGKILL)
	leader.proc.stop(syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	if res, err := haClient.Get(nodes[0].URL() + "/readyz"); err != nil || res.StatusCode != 503 {
		t.Fatalf("/readyz with the leader dead: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	var ready time.Time
	for _, n := range nodes {
		if r := waitReady(t, n, 60*time.Second); r.After(ready) {
			ready = r
		}
	}
	first, ok := w.firstAckAfter(killed.Add(time.Second))
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		first, ok = w.firstAckAfter(killed.Add(time.Second))
	}
	if q := queryStrings(t, fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", password, replica.pg),
		"SELECT pg_is_in_recovery()::text"); q[0] != "false" {
		t.Fatal("the replica was not promoted")
	}
	if !ok {
		t.Fatal("no write acknowledged after the failover")
	}
	t.Logf("Patroni failover (ttl 10 s, loop_wait 1 s): kill → ready %v, kill → first write %v",
		ready.Sub(killed).Round(time.Millisecond), first.Sub(killed).Round(time.Millisecond))
	time.Sleep(time.Second)
	w.stop()

	newURL := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/presenced?sslmode=disable", password, replica.pg)
	inEvents := queryStrings(t, newURL, `SELECT body->>'message' FROM events WHERE topic LIKE 'agents.%.presence' AND body->>'message' LIKE 'w-%'`)
	for _, m := range w.ackedWith("w-") {
		if !strings.HasPrefix(m, "w-") {
			continue
		}
		found := false
		for _, e := range inEvents {
			found = found || e == m
		}
		if !found {
			t.Errorf("acknowledged write %s lost", m)
		}
	}
	waitMessages(t, live, "w-", len(inEvents), 15*time.Second)
	got, reset := written(t, "live subscriber", live.got(), "w-")
	if reset != "" {
		t.Errorf("live subscriber reset at %s", reset)
	}
	sameSet(t, "live subscriber", got, inEvents)
	if n := len(w.ackedWith("w-")); n == 0 {
		t.Fatal("nothing acknowledged")
	}
}
