package http

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	presence "github.com/presenced/presenced"
)

// appendPresenceList must write exactly json.Marshal's bytes. Records are
// filled by reflection, so a field added to presence.Record (or its
// parts) gets random values here and fails the test until the encoder
// writes it too.
func TestAppendPresenceList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	check := func(t *testing.T, items []*presence.Record, next string) {
		t.Helper()
		want, wantErr := json.Marshal(listBody[*presence.Record]{Items: items, NextCursor: next})
		got, gotErr := appendPresenceList(nil, items, next)
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("encoding/json error %v, appendPresenceList error %v", wantErr, gotErr)
		}
		if wantErr == nil && string(got) != string(want) {
			t.Fatalf("appendPresenceList\n%s\nencoding/json\n%s", got, want)
		}
	}
	t.Run("Edges", func(t *testing.T) {
		check(t, nil, "")
		check(t, []*presence.Record{}, "")
		check(t, []*presence.Record{nil, {}}, "c")
		check(t, []*presence.Record{{Queues: []string{}, Since: &time.Time{}}}, "")
	})
	t.Run("Random", func(t *testing.T) {
		for range 3000 {
			items := make([]*presence.Record, rng.IntN(4))
			for i := range items {
				if rng.IntN(20) == 0 {
					continue // nil
				}
				r := new(presence.Record)
				fill(rng, reflect.ValueOf(r).Elem())
				items[i] = r
			}
			next := ""
			if rng.IntN(2) == 0 {
				next = randomString(rng)
			}
			check(t, items, next)
		}
	})
	t.Run("EveryFieldWritten", func(t *testing.T) {
		// A record with every pointer set and every value non-zero, so
		// that a field the encoder skips cannot hide behind a zero value.
		r := new(presence.Record)
		for {
			fill(rng, reflect.ValueOf(r).Elem())
			if allSet(reflect.ValueOf(r).Elem()) {
				break
			}
		}
		check(t, []*presence.Record{r}, "")
	})
}

// The hand encoder writes every field of presence.Record under its JSON
// name, at every depth, and nothing else: the list is derived from the
// struct's type and tags, so a field added to presence.Record (or its
// parts) fails this until appendRecord writes it.
func TestAppendRecordWritesEveryJSONField(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	r := new(presence.Record)
	for {
		fill(rng, reflect.ValueOf(r).Elem())
		// Random times include ones no JSON encoder can write (a zone
		// offset of 24 h, years past 9999); TestAppendPresenceList checks
		// that appendRecord refuses those as encoding/json does. Here the
		// record must be one encoding/json can write.
		if _, err := json.Marshal(r); err == nil && allSet(reflect.ValueOf(r).Elem()) {
			break
		}
	}
	b, err := appendRecord(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]any
	if err := json.Unmarshal(b, &written); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	want, got := jsonPaths(reflect.TypeFor[presence.Record](), ""), writtenPaths(written, "")
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("presence.Record has the JSON fields\n%v\nappendRecord writes\n%v", want, got)
	}
}

// jsonPaths lists the JSON names of the fields of struct type t, as
// encoding/json names them by their tags, and of the fields of structs
// within ("status.id").
func jsonPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			out = append(out, jsonPaths(ft, prefix+name+".")...)
		}
	}
	return out
}

// writtenPaths lists the keys of a decoded JSON object, and of the objects
// within, as jsonPaths does.
func writtenPaths(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		out = append(out, prefix+k)
		if sub, ok := v.(map[string]any); ok {
			out = append(out, writtenPaths(sub, prefix+k+".")...)
		}
	}
	return out
}

// pieces of random strings: plain ASCII, what encoding/json escapes
// (quotes, backslash, HTML characters, control characters, U+2028/9),
// other UTF-8, and invalid UTF-8.
var pieces = []string{"a", "Z", "0", " ", "~", "\x7f", "available", "OFFLINE", "_-.@+",
	`"`, `\`, "<", ">", "&", "\x00", "\x01", "\b", "\f", "\n", "\r", "\t", "\x1f",
	"é", "ß", "日本", "😀", "\u2028", "\u2029", "\ufeff", "\ufffd",
	"\xff", "\x80", "\xc3", "\xe2\x80", "\xed\xa0\x80"}

func randomString(rng *rand.Rand) string {
	var b strings.Builder
	n := rng.IntN(6)
	for range n {
		if rng.IntN(3) == 0 {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		} else {
			b.WriteString(pieces[rng.IntN(8)]) // mostly plain
		}
	}
	return b.String()
}

var zones = []*time.Location{time.UTC, time.Local, time.FixedZone("", 0), time.FixedZone("IST", 5*3600+1800),
	time.FixedZone("PST", -8*3600), time.FixedZone("odd", -(3*3600 + 25*60 + 7)), time.FixedZone("far", 24*3600)}

func randomTime(rng *rand.Rand) time.Time {
	sec := rng.Int64N(400*365*86400) + time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	if rng.IntN(50) == 0 {
		sec = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).Unix() + rng.Int64N(7200) // around year 10000
	}
	nsec := int64(0)
	switch rng.IntN(4) {
	case 1:
		nsec = rng.Int64N(1e9)
	case 2:
		nsec = rng.Int64N(1e6) * 1000 // microseconds, as PostgreSQL's
	case 3:
		nsec = rng.Int64N(1000) * 1e6
	}
	return time.Unix(sec, nsec).In(zones[rng.IntN(len(zones))])
}

// fill sets v (and what it points to) to random values; pointers and
// slices are sometimes left nil, slices sometimes empty.
func fill(rng *rand.Rand, v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(randomTime(rng)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(1<<40) - 1<<39)
	case reflect.Pointer:
		if rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem())
		v.Set(p)
	case reflect.Slice:
		if rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		s := reflect.MakeSlice(v.Type(), rng.IntN(4), 4)
		for i := range s.Len() {
			fill(rng, s.Index(i))
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(rng, v.Field(i))
		}
	default:
		panic("fill: no random values of kind " + v.Kind().String() + "; teach fill and appendRecord")
	}
}

// allSet reports whether no field of v, at any depth, is zero.
func allSet(v reflect.Value) bool {
	if v.Type() == reflect.TypeFor[time.Time]() {
		return !v.IsZero()
	}
	switch v.Kind() {
	case reflect.Pointer:
		return !v.IsNil() && allSet(v.Elem())
	case reflect.Slice:
		return v.Len() > 0
	case reflect.Struct:
		for i := range v.NumField() {
			if !allSet(v.Field(i)) {
				return false
			}
		}
		return true
	default:
		return !v.IsZero()
	}
}

// BenchmarkPresenceListJSON encodes a floor of 10,000 typical records
// (the bulk read's body) both ways.
func BenchmarkPresenceListJSON(b *testing.B) {
	items := make([]*presence.Record, 10_000)
	since := time.Date(2026, 11, 21, 10, 0, 0, 123456000, time.UTC)
	for i := range items {
		id := int64(i + 1)
		items[i] = &presence.Record{AgentID: "a" + strconv.Itoa(100000 + i)[1:],
			Status: presence.StatusRef{ID: "available", Label: "Available", SystemPresence: "AVAILABLE"},
			State:  presence.StateOffline, RoutingStatus: presence.RoutingOffQueue,
			Source: ptr(presence.SourceManual), Since: &since, SpellID: &id,
			Capacity: presence.Capacity{Configured: 1}, Queues: []string{}}
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(listBody[*presence.Record]{Items: items}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendPresenceList(make([]byte, 0, 64+320*len(items)), items, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

// appendPresenceList is the bulk handler's assembly over a slice: it
// appends what json.Marshal(listBody[*presence.Record]{
// Items: items, NextCursor: next}) returns, and fails where it would.
func appendPresenceList(b []byte, items []*presence.Record, next string) ([]byte, error) {
	if items == nil {
		return appendListEnd(append(b, `{"items":null`...), next), nil
	}
	b = append(b, `{"items":[`...)
	for i, r := range items {
		var err error
		if b, err = appendListItem(b, i, r); err != nil {
			return nil, err
		}
	}
	return appendListEnd(append(b, ']'), next), nil
}
