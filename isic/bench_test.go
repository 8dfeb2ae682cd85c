package isic

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// benchmarkLoad loads the shared ISIC 2018 pairs at 128 x 128 b.N times,
// from a cache warmed first when warm, and reports the images per second.
func benchmarkLoad(b *testing.B, warm bool) {
	dir := isicDir(b, isicDirEnv, "isic2018")
	opts := LoadOptions{CacheDir: b.TempDir(), NoCache: !warm}
	if warm {
		_, err := Load(dir, opts)
		require.NoError(b, err)
	}
	pairs := 0
	for b.Loop() {
		d, err := Load(dir, opts)
		require.NoError(b, err)
		require.Equal(b, warm, d.Report.CacheHit)
		pairs += d.Len()
	}
	b.ReportMetric(float64(pairs)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkLoadCold decodes and preprocesses every pair.
func BenchmarkLoadCold(b *testing.B) { benchmarkLoad(b, false) }

// BenchmarkLoadWarm reads the preprocessed pairs from the cache.
func BenchmarkLoadWarm(b *testing.B) { benchmarkLoad(b, true) }

// BenchmarkSynthetic draws 64 synthetic samples at 128 x 128.
func BenchmarkSynthetic(b *testing.B) {
	for b.Loop() {
		Synthetic(64, 1, DefaultSyntheticOptions())
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}
