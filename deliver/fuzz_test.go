package deliver

import (
	"slices"
	"strings"
	"testing"
)

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(rfc8461Policy))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.example.test\nmax_age: 86400\nx: y\n"))
	f.Add([]byte("version:STSv1\r\nmode:enforce\r\nmx:a\r\nmax_age:1"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePolicy(body)
		if err != nil {
			return
		}
		// What parsed is kept in Text, and parses again to the same.
		again, err := ParsePolicy([]byte(strings.Join(p.Text, "\n")))
		if err != nil {
			t.Fatalf("Text %q does not parse again: %v", p.Text, err)
		}
		if again.Mode != p.Mode || again.MaxAge != p.MaxAge || !slices.Equal(again.MX, p.MX) {
			t.Fatalf("reparsed %+v, first %+v", again, p)
		}
		if p.MaxAge > MaxPolicyAge || (p.Mode != ModeNone && len(p.MX) == 0) {
			t.Fatalf("accepted %+v", p)
		}
		for _, mx := range p.MX {
			if !strings.HasPrefix(mx, "*.") && !p.Match(mx) {
				t.Fatalf("pattern %q does not match itself", mx)
			}
		}
	})
}

func FuzzParseSTSRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;;")
	f.Add("v=spf1 -all")
	f.Fuzz(func(t *testing.T, txt string) {
		id, ok, err := ParseSTSRecord(txt)
		if err == nil && ok && (len(id) == 0 || len(id) > 32) {
			t.Fatalf("id %q from %q", id, txt)
		}
		if !ok && (err != nil || id != "") {
			t.Fatalf("not an STS record but id %q, err %v", id, err)
		}
	})
}

func FuzzParseTLSA(f *testing.F) {
	f.Add("3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971")
	f.Add("( 2 0 2 00 11 )")
	f.Add("0 0 0 00")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSA(s)
		if err != nil {
			return
		}
		again, err := ParseTLSA(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q -> %v -> %v, %v", s, r, again, err)
		}
	})
}

func FuzzUnpackTLSA(f *testing.F) {
	f.Add([]byte{3, 1, 1, 0xd2, 0xab})
	f.Add([]byte{2, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rdata []byte) {
		r, err := UnpackTLSA(rdata)
		if err != nil {
			return
		}
		packed := append([]byte{r.Usage, r.Selector, r.MatchingType}, r.Data...)
		if string(packed) != string(rdata) {
			t.Fatalf("%x unpacked to %v", rdata, r)
		}
		_ = r.Usable()
	})
}

func FuzzParseTLSRPTRecord(f *testing.F) {
	f.Add("v=TLSRPTv1;rua=mailto:reports@example.com")
	f.Add("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt,mailto:a@b; x=y")
	f.Fuzz(func(t *testing.T, txt string) {
		rua, ok, err := ParseTLSRPTRecord(txt)
		if err == nil && ok && len(rua) == 0 {
			t.Fatalf("%q: a record with no rua", txt)
		}
		for _, u := range rua {
			if !strings.HasPrefix(strings.ToLower(u), "mailto:") && !strings.HasPrefix(strings.ToLower(u), "https:") {
				t.Fatalf("%q: rua %q", txt, u)
			}
		}
	})
}
