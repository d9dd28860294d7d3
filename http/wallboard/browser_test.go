package wallboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced/db/dbtest"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// EnvScreenshot names the file the floor test writes its screenshot to
// (make screenshot sets it to docs/wallboard.png; the token test writes
// wallboard-no-token.png next to it); without it the screenshots go to the
// tests' temporary directories. Their paths are logged.
const EnvScreenshot = "PRESENCED_WALLBOARD_SCREENSHOT"

// EnvChromium names the browser binary, when it is not one of the usual.
const EnvChromium = "PRESENCED_CHROMIUM"

const adminToken = nodetest.AdminToken // the test nodes' bootstrap admin token

// findChromium returns the browser binary, or skips the test.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (looked for $" + EnvChromium + ", chromium, chromium-browser, google-chrome): " +
		"the browser tests need it; on Debian `make test-deps` (run by `make test` as root) installs it")
	return ""
}

// browser is a headless Chromium tab.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage // console errors and uncaught exceptions
}

// newBrowser starts a headless Chromium for t, closed when t ends. The
// flags suit a root user in a container on a closed network: no sandbox,
// no GPU, no /dev/shm, nothing fetched in the background, a fresh profile.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 820),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	var listening sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit, before the profile is removed
		listening.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.messages {
			if m.IsException() {
				t.Errorf("script error on the page: %s", m)
			} else {
				t.Logf("console: %s", m)
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, bound to ctx
		t.Fatalf("start %s: %v", path, err)
	}
	messages := chromedp.Console(ctx)
	listening.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" {
				b.mu.Lock()
				b.messages = append(b.messages, m)
				b.mu.Unlock()
			}
		}
	})
	return b
}

// do runs actions, failing t after timeout.
func (b *browser) do(t *testing.T, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval returns the value of a JavaScript expression on the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text returns the text of the first element that matches a CSS selector.
func text(t *testing.T, b *browser, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// waitFor waits up to timeout for a JavaScript condition to hold on the page.
func waitFor(t *testing.T, b *browser, timeout time.Duration, cond string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s: %v", cond, err)
	}
}

// present is the JavaScript condition that an element matches sel.
func present(sel string) string { return fmt.Sprintf("!!document.querySelector(%q)", sel) }

// api sends an admin request and returns the status and decoded body.
func api(t *testing.T, base, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return res.StatusCode, out
}

func mustAPI(t *testing.T, base string, want int, method, path, body string) map[string]any {
	t.Helper()
	code, out := api(t, base, method, path, body)
	if code != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// readToken makes a presence:read token, as an operator would for a
// wallboard.
func readToken(t *testing.T, base string) string {
	t.Helper()
	return mustAPI(t, base, 201, "POST", "/v1/tokens", `{"scopes": ["presence:read"], "name": "wallboard"}`)["token"].(string)
}

// A floor that reads like a contact centre: the screenshot in the README
// is taken of it.
var floorAgents = []struct{ id, name, status, message, queues string }{
	{"amara.okafor", "Amara Okafor", "available", "", "sales,support"},
	{"ben.hartley", "Ben Hartley", "busy", "Escalation, back 14:30", "support"},
	{"carla.mendes", "Carla Mendes", "available", "", "sales"},
	{"dmitri.volkov", "Dmitri Volkov", "meal", "Back at 1", "billing"},
	{"elif.yilmaz", "Elif Yılmaz", "available", "", "support,billing"},
	{"farah.haddad", "Farah Haddad", "meeting", "Team huddle", "sales"},
	{"gus.lindqvist", "Gus Lindqvist", "break", "", "support"},
	{"hana.sato", "Hana Sato", "busy", "", "billing"},
	{"ivan.petrov", "Ivan Petrov", "coaching", "With Hana", "support"},
	{"jade.nguyen", "Jade Nguyen", "available", "", "sales,support"},
	{"kofi.mensah", "Kofi Mensah", "training", "New CRM course", ""},
	{"lena.fischer", "Lena Fischer", "away", "", "billing"},
	{"mateo.garcia", "Mateo García", "available", "", "support"},
	{"nadia.rahman", "Nadia Rahman", "busy", "Callback queue", "sales"},
	{"oscar.brandt", "Oscar Brandt", "offline", "", ""},
	{"priya.iyer", "Priya Iyer", "available", "", "billing,support"},
	{"quinn.obrien", "Quinn O'Brien", "break", "", "sales"},
	{"rosa.ferreira", "Rosa Ferreira", "available", "", "support"},
	{"sami.laine", "Sami Laine", "meal", "", "sales"},
	{"tomas.novak", "Tomáš Novák", "busy", "", "support,billing"},
	{"uma.desai", "Uma Desai", "available", "", "sales"},
	{"victor.roux", "Victor Roux", "offline", "On leave until Monday", ""},
	{"wei.zhang", "Wei Zhang", "available", "", "billing"},
	{"yara.costa", "Yara Costa", "meeting", "1:1", "support"},
}

// populate writes the floor through the API. Queues and sessions are used
// where the server has them (404 otherwise), so that the screenshot shows
// the whole picture on a build with them.
func populate(t *testing.T, base string) {
	t.Helper()
	mustAPI(t, base, 201, "POST", "/v1/statuses", `{"id": "coaching", "label": "Coaching", "system_presence": "TRAINING", "is_away": true}`)
	queues := true
	for _, q := range []string{"sales", "support", "billing"} {
		if code, _ := api(t, base, "PUT", "/v1/queues/"+q, fmt.Sprintf(`{"name": %q}`, strings.ToUpper(q[:1])+q[1:])); code == 404 {
			queues = false
			break
		}
	}
	for i, a := range floorAgents {
		mustAPI(t, base, 201, "POST", "/v1/agents", fmt.Sprintf(`{"id": %q, "name": %q, "capacity": %d}`, a.id, a.name, 1+i%3))
		if a.status != "offline" {
			api(t, base, "POST", "/v1/agents/"+a.id+"/sessions", `{"client": "softphone"}`) // 404 without sessions
		}
		msg := ""
		if a.message != "" {
			msg = fmt.Sprintf(`, "message": %q`, a.message)
		}
		mustAPI(t, base, 200, "PUT", "/v1/agents/"+a.id+"/presence", fmt.Sprintf(`{"status": %q%s}`, a.status, msg))
		if queues && a.queues != "" {
			for _, q := range strings.Split(a.queues, ",") {
				mustAPI(t, base, 200, "POST", "/v1/agents/"+a.id+"/queues/"+q+"/login", "")
			}
		}
	}
}

// backdate moves the start of every agent's status back by a few minutes,
// behind the API's back: a real floor has been at it for a while, and the
// screenshot should show it. Older spells are dropped first, so that the
// moved one overlaps none; the database is the test's own.
func backdate(t *testing.T, n *node.Node) {
	t.Helper()
	pool := dbtest.MustOpenPool(t, n.DB.URL)
	for i, a := range floorAgents {
		ago := time.Duration(i*7%53+1)*time.Minute + time.Duration(i*13%60)*time.Second
		_, err := pool.Exec(t.Context(), `
			WITH old AS (DELETE FROM spells WHERE agent_id = $1 AND ended_at IS NOT NULL)
			UPDATE spells SET started_at = started_at - make_interval(secs => $2)
			WHERE agent_id = $1 AND ended_at IS NULL`, a.id, ago.Seconds())
		if err != nil {
			t.Logf("backdate %s: %v (the screenshot shows fresh times)", a.id, err)
		}
	}
}

func TestWallboardShowsTheFloorAndFollowsItLive(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	n := nodetest.MustOpen(t, dbtest.NewDatabase(t))
	populate(t, n.URL())
	backdate(t, n)
	tok := readToken(t, n.URL())

	b.do(t, 20*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(n.URL()+"/?access_token="+tok))
	waitFor(t, b, 20*time.Second, present(`#conn[data-state="live"]`)+" && "+present(`[data-agent-id="yara.costa"]`))
	if got := eval[int](t, b, `document.querySelectorAll("[data-agent-id]").length`); got != len(floorAgents) {
		t.Fatalf("%d tiles, want %d", got, len(floorAgents))
	}
	if got := eval[int](t, b, `document.querySelectorAll("[data-agent-id][data-status]").length`); got != len(floorAgents) {
		t.Fatalf("%d tiles carry data-status, want every one", got)
	}
	if got := text(t, b, `[data-agent-id="dmitri.volkov"][data-status="meal"] .status-label`); got != "Meal" {
		t.Fatalf("status label: %q", got)
	}
	if got := text(t, b, `[data-agent-id="ivan.petrov"] .name`); got != "Ivan Petrov" {
		t.Fatalf("name: %q", got)
	}
	if got := text(t, b, `[data-agent-id="ivan.petrov"] .status-label`); got != "Coaching" {
		t.Fatalf("custom status label: %q", got)
	}
	screenshot(t, b, "wallboard.png") // the floor as a supervisor sees it

	t.Run("a change through the API shows within a second", func(t *testing.T) {
		start := time.Now()
		mustAPI(t, n.URL(), 200, "PUT", "/v1/agents/carla.mendes/presence", `{"status": "break", "message": "Back in 10"}`)
		waitFor(t, b, 10*time.Second, present(`[data-agent-id="carla.mendes"][data-status="break"]`))
		took := time.Since(start)
		t.Logf("the change reached the page %v after the request started", took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("the change took %v to show, want under a second", took)
		}
		if got := text(t, b, `[data-agent-id="carla.mendes"]`); !strings.Contains(got, "Break") || !strings.Contains(got, "Back in 10") {
			t.Errorf("tile text after the change: %q", got)
		}
	})

	t.Run("a new agent appears with its name", func(t *testing.T) {
		mustAPI(t, n.URL(), 201, "POST", "/v1/agents", `{"id": "zoe.adams", "name": "Zoe Adams"}`)
		waitFor(t, b, 10*time.Second, present(`[data-agent-id="zoe.adams"][data-status="offline"]`)+
			` && document.querySelector('[data-agent-id="zoe.adams"] .name').textContent === "Zoe Adams"`)
	})

	t.Run("a deleted agent leaves the floor and a restored one comes back", func(t *testing.T) {
		mustAPI(t, n.URL(), 204, "DELETE", "/v1/agents/zoe.adams", "")
		waitFor(t, b, 10*time.Second, "!"+present(`[data-agent-id="zoe.adams"]`))
		mustAPI(t, n.URL(), 200, "POST", "/v1/agents/zoe.adams/restore", "")
		waitFor(t, b, 10*time.Second, present(`[data-agent-id="zoe.adams"]`)+
			` && document.querySelector('[data-agent-id="zoe.adams"] .name').textContent === "Zoe Adams"`)
		mustAPI(t, n.URL(), 204, "DELETE", "/v1/agents/zoe.adams", "")
		waitFor(t, b, 10*time.Second, "!"+present(`[data-agent-id="zoe.adams"]`))
	})

	t.Run("the status filter and its counts", func(t *testing.T) {
		b.do(t, 5*time.Second, chromedp.SetValue(chromedp.CSS(`#status-filter`), "available"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#status-filter").dispatchEvent(new Event("change"))`))
		want := 0
		for _, a := range floorAgents {
			if a.status == "available" && a.id != "carla.mendes" {
				want++
			}
		}
		shown := eval[int](t, b, `[...document.querySelectorAll("[data-agent-id]")].filter(e => !e.hidden).length`)
		others := eval[int](t, b, `[...document.querySelectorAll("[data-agent-id]:not([data-status=available])")].filter(e => !e.hidden).length`)
		count := text(t, b, `.chip[data-filter=status][data-value=available] .count`)
		if shown != want || others != 0 || count != fmt.Sprint(want) || !strings.Contains(eval[string](t, b, `location.hash`), "status=available") {
			t.Fatalf("filtered: %d shown, %d others, count %s; want %d", shown, others, count, want)
		}
		b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`.chip[data-filter=status][data-value=available]`))) // toggles it off
		waitFor(t, b, 10*time.Second, `[...document.querySelectorAll("[data-agent-id]")].every(e => !e.hidden)`)
	})

	t.Run("time in status ticks", func(t *testing.T) {
		first := text(t, b, `[data-agent-id="amara.okafor"] .since`)
		waitFor(t, b, 5*time.Second, fmt.Sprintf(`document.querySelector('[data-agent-id="amara.okafor"] .since').textContent !== %q`, first))
	})

	t.Run("a batch of new agents appears with their names", func(t *testing.T) {
		var items []string
		for i := range 60 {
			items = append(items, fmt.Sprintf(`{"id": "new%02d", "name": "New Hire %02d"}`, i, i))
		}
		mustAPI(t, n.URL(), 200, "POST", "/v1/agents/batch", `{"items": [`+strings.Join(items, ",")+`]}`)
		waitFor(t, b, 10*time.Second, `[...document.querySelectorAll('[data-agent-id^="new"] .name')].filter(e => e.textContent.startsWith("New Hire")).length === 60`)
	})
}

// screenshot writes the page as a PNG: to $PRESENCED_WALLBOARD_SCREENSHOT
// for the floor and next to it for others, else to the test's temporary
// directory; it logs the path.
func screenshot(t *testing.T, b *browser, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if p := os.Getenv(EnvScreenshot); p != "" {
		path = p
		if name != "wallboard.png" {
			path = filepath.Join(filepath.Dir(p), name)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

func TestWallboardWithoutATokenSaysHowToGetOne(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	n := nodetest.MustOpen(t, dbtest.NewDatabase(t))
	b.do(t, 20*time.Second, chromedp.EmulateViewport(1280, 400), chromedp.Navigate(n.URL()+"/"))
	waitFor(t, b, 10*time.Second, `!document.querySelector("#notice").hidden`)
	screenshot(t, b, "wallboard-no-token.png")
	if got := text(t, b, `#notice`); !strings.Contains(got, "?access_token=") || !strings.Contains(got, "presence:read") {
		t.Fatalf("notice: %q", got)
	}
	if state := eval[string](t, b, `document.querySelector("#conn").dataset.state`); state != "denied" {
		t.Fatalf("connection indicator: %q", state)
	}

	// A wrong token is told apart from a missing one.
	b.do(t, 20*time.Second, chromedp.Navigate(n.URL()+"/?access_token=pdk_wrong"))
	waitFor(t, b, 10*time.Second, `!document.querySelector("#notice").hidden`)
	if got := text(t, b, `#notice h2`); got != "The token was not accepted" {
		t.Fatalf("notice for a wrong token: %q", got)
	}

	// A token revoked while the page is open: its stream ends, and the page
	// says why instead of retrying for ever.
	created := mustAPI(t, n.URL(), 201, "POST", "/v1/tokens", `{"scopes": ["presence:read"], "name": "wallboard"}`)
	b.do(t, 20*time.Second, chromedp.Navigate(n.URL()+"/?access_token="+created["token"].(string)))
	waitFor(t, b, 10*time.Second, present(`#conn[data-state="live"]`))
	mustAPI(t, n.URL(), 204, "DELETE", "/v1/tokens/"+created["id"].(string), "")
	waitFor(t, b, 15*time.Second, `!document.querySelector("#notice").hidden && document.querySelector("#conn").dataset.state === "denied"`)
	if got := text(t, b, `#notice h2`); got != "The token was not accepted" {
		t.Fatalf("notice for a revoked token: %q", got)
	}
}

// The page keeps its floor across a lost connection: while its node is
// down it says so, and once a node answers at the address again it resumes
// after the last event it applied and shows what changed meanwhile.
func TestWallboardResumesAfterTheConnectionDrops(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	url := dbtest.NewDatabase(t)
	first := nodetest.MustOpen(t, url)
	addr := strings.TrimPrefix(first.URL(), "http://")
	other := nodetest.MustOpen(t, url) // the rest of the cluster
	for _, id := range []string{"a1", "a2"} {
		mustAPI(t, first.URL(), 201, "POST", "/v1/agents", `{"id": "`+id+`"}`)
	}
	tok := readToken(t, first.URL())
	b.do(t, 20*time.Second, chromedp.Navigate(first.URL()+"/?access_token="+tok))
	waitFor(t, b, 20*time.Second, present(`#conn[data-state="live"]`)+" && "+present(`[data-agent-id="a2"]`))
	mustAPI(t, first.URL(), 200, "PUT", "/v1/agents/a1/presence", `{"status": "busy"}`)
	waitFor(t, b, 10*time.Second, present(`[data-agent-id="a1"][data-status="busy"]`))

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, 10*time.Second, `document.querySelector("#conn").dataset.state !== "live"`)
	mustAPI(t, other.URL(), 200, "PUT", "/v1/agents/a1/presence", `{"status": "meal"}`)
	mustAPI(t, other.URL(), 200, "PUT", "/v1/agents/a2/presence", `{"status": "available"}`)

	nodetest.MustOpenConfig(t, node.Config{DatabaseURL: url, Addr: addr}) // the address answers again
	waitFor(t, b, 45*time.Second, present(`[data-agent-id="a1"][data-status="meal"]`)+" && "+
		present(`[data-agent-id="a2"][data-status="available"]`)+" && "+present(`#conn[data-state="live"]`))
}
