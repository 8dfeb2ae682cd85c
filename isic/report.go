package isic

import (
	"fmt"
	"io"
	"time"
)

// WriteSummary writes r for a person to read: what was found and loaded,
// each kind of skipped file with up to maxList of them listed (all when
// maxList < 0), the time taken and the cache use.
func (r *LoadReport) WriteSummary(w io.Writer, maxList int) {
	fmt.Fprintf(w, "Images:            %s\n", r.ImageDir)
	fmt.Fprintf(w, "Masks:             %s\n", r.MaskDir)
	fmt.Fprintf(w, "Files found:       %d images, %d masks\n", r.Images, r.Masks)
	fmt.Fprintf(w, "Pairs loaded:      %d\n", r.Pairs)
	writeList(w, "Images w/o mask:", r.ImagesWithoutMask, maxList)
	writeList(w, "Masks w/o image:", r.MasksWithoutImage, maxList)
	rejected := make([]string, len(r.Rejected))
	for i, rej := range r.Rejected {
		rejected[i] = rej.File + ": " + rej.Reason
	}
	writeList(w, "Rejected files:", rejected, maxList)
	mismatches := make([]string, len(r.SizeMismatches))
	for i, m := range r.SizeMismatches {
		mismatches[i] = m.String()
	}
	writeList(w, "Size mismatches:", mismatches, maxList)
	writeList(w, "Thresholded masks:", r.Thresholded, maxList)
	fmt.Fprintf(w, "Ignored files:     %d (not images or masks)\n", len(r.Ignored))

	cache := "no cache"
	switch {
	case r.CacheHit:
		cache = "cache hit, " + r.CacheFile
	case r.CacheFile != "":
		cache = "decoded, cached in " + r.CacheFile
	}
	fmt.Fprintf(w, "Time:              %s (%s)\n", r.Duration.Round(time.Millisecond), cache)
}

// writeList writes a count and up to maxList of items, indented.
func writeList(w io.Writer, title string, items []string, maxList int) {
	fmt.Fprintf(w, "%-18s %d\n", title, len(items))
	for i, item := range items {
		if maxList >= 0 && i == maxList {
			fmt.Fprintf(w, "    ... and %d more\n", len(items)-maxList)
			break
		}
		fmt.Fprintf(w, "    %s\n", item)
	}
}
