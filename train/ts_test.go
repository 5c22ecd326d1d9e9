package train

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReadJapaneseVowels(t *testing.T) {
	minLen, maxLen := 1000, 0
	for name, want := range map[string]int{"TRAIN": 270, "TEST": 370} {
		d, err := ReadTSFile("../data/JapaneseVowels/JapaneseVowels_" + name + ".ts")
		if err != nil {
			t.Fatal(err)
		}
		if d.Problem != "JapaneseVowels" || d.Dims != 12 || len(d.Classes) != 9 || len(d.Series) != want || d.EqualLength {
			t.Fatalf("%s: %s, %d dims, %d classes, %d series, equal length %v", name, d.Problem, d.Dims, len(d.Classes), len(d.Series), d.EqualLength)
		}
		count := make([]int, 9)
		for _, s := range d.Series {
			count[s.Label]++
			n := len(s.Values[0])
			for _, ch := range s.Values {
				if len(ch) != n {
					t.Fatalf("%s: channels of one series differ in length", name)
				}
			}
			minLen, maxLen = min(minLen, n), max(maxLen, n)
		}
		if name == "TRAIN" {
			for c, n := range count {
				if n != 30 {
					t.Errorf("train: speaker %d has %d series, want 30", c+1, n)
				}
			}
		}
	}
	if minLen != 7 || maxLen != 29 {
		t.Errorf("lengths %d to %d over both sets, want 7 to 29", minLen, maxLen)
	}
}

const tsHeader = "# a comment\n@problemName Toy\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"

func TestParseTS(t *testing.T) {
	d, err := ParseTS(strings.NewReader(tsHeader+"1,2,3:4,?,6:b\n0.5,NaN:1,2:a\n"), "toy.ts")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Series) != 2 || d.Series[0].Label != 1 || d.Series[1].Label != 0 || !math.IsNaN(d.Series[0].Values[1][1]) || len(d.Series[1].Values[0]) != 2 {
		t.Errorf("parsed %+v", d.Series)
	}
	ts := "@problemName T\n@timeStamps true\n@missing false\n@univariate true\n@equalLength false\n@classLabel true x\n@data\n(0,1.5),(2,2.5),(3,1):x\n"
	d, err = ParseTS(strings.NewReader(ts), "stamps.ts")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Series[0].Times[0]; len(got) != 3 || got[1] != 2 || d.Series[0].Values[0][2] != 1 {
		t.Errorf("time stamps %v values %v", got, d.Series[0].Values)
	}
	// '%' comments (ARFF's, kept by the archive's Chinatown files) before
	// @data, as the first lines and between headers.
	pct := "%# PedestrianCountingSystem dataset\n%\n@problemName 'C'\n% a note\n@classLabel true 1 2\n@data\n1,2,3:2\n"
	d, err = ParseTS(strings.NewReader(pct), "pct.ts")
	if err != nil {
		t.Fatal(err)
	}
	if d.Problem != "C" || len(d.Series) != 1 || d.Series[0].Label != 1 || len(d.Series[0].Values[0]) != 3 {
		t.Errorf("%%-commented file parsed as %+v", d)
	}
	bad := map[string]string{
		"no data":         "@problemName x\n",
		"percent in data": "@classLabel true a\n@data\n1,2:a\n% not a series\n",
		"unknown header":  "@colour blue\n@data\n",
		"before header":   "1,2:a\n",
		"bad bool":        "@missing maybe\n@data\n",
		"twice":           "@dimensions 2\n@dimensions 3\n@data\n",
		"label":           tsHeader + "1,2:3,4:c\n",
		"channels":        tsHeader + "1,2,3:a\n",
		"number":          tsHeader + "1,x:3,4:a\n",
		"missing":         "@missing false\n@classLabel true a\n@data\n1,?:a\n",
		"equal length":    "@equalLength true\n@classLabel true a\n@data\n1,2:3:a\n",
		"series length":   "@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n1,2:3,4:a\n",
		"empty channel":   tsHeader + "1,2::a\n",
		"no series":       tsHeader,
		"regression":      "@targetLabel true\n@data\n",
		"pair":            "@timeStamps true\n@classLabel true a\n@data\n(1):a\n",
		"time order":      "@timeStamps true\n@classLabel true a\n@data\n(2,1),(1,2):a\n",
		"univariate dims": "@univariate true\n@dimensions 3\n@data\n",
	}
	for name, text := range bad {
		_, err := ParseTS(strings.NewReader(text), "bad.ts")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrTS) || !strings.Contains(err.Error(), "bad.ts") {
			t.Errorf("%s: error %q should name the file and wrap ErrTS", name, err)
		}
	}
	// Errors name the line.
	_, err = ParseTS(strings.NewReader(tsHeader+"1,2:3,4:a\n1,x:3,4:a\n"), "lines.ts")
	if err == nil || !strings.Contains(err.Error(), "lines.ts:11:") {
		t.Errorf("error %v should name line 11", err)
	}
}

func FuzzParseTS(f *testing.F) {
	f.Add(tsHeader + "1,2,3:4,?,6:b\n0.5,NaN:1,2:a\n")
	f.Add("@timeStamps true\n@classLabel true x\n@data\n(0,1),(1,2):x\n")
	f.Add("@equalLength true\n@seriesLength 2\n@classLabel true a b\n@data\n1,2:a\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := ParseTS(strings.NewReader(text), "fuzz.ts")
		if err != nil {
			return
		}
		for _, s := range d.Series {
			if len(s.Values) != d.Dims {
				t.Fatalf("series with %d channels in a set of %d", len(s.Values), d.Dims)
			}
			if len(d.Classes) > 0 && (s.Label < 0 || s.Label >= len(d.Classes)) {
				t.Fatalf("label %d of %d classes", s.Label, len(d.Classes))
			}
			for _, ch := range s.Values {
				for _, v := range ch {
					if math.IsNaN(v) && !d.Missing {
						t.Fatal("NaN accepted without @missing")
					}
				}
			}
		}
	})
}
