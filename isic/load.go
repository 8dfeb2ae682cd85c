package isic

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// DefaultSize is the side of the images when LoadOptions.Size or
// SyntheticOptions.Size is zero.
const DefaultSize = 128

// LoadOptions configures [Load]. The zero value loads the Training set at
// [DefaultSize] with the default cache on all cores.
type LoadOptions struct {
	// Size is N, the side of the square images and masks; 0 means 128.
	Size int
	// CacheDir holds the preprocessed tensors; empty means the environment
	// variable MEDNCA_CACHE_DIR, else os.UserCacheDir()/mednca.
	CacheDir string
	// NoCache disables reading and writing the cache.
	NoCache bool
	// Workers is the number of files decoded at once; 0 means
	// runtime.NumCPU().
	Workers int
	// Part chooses the set when a folder holds several: "Training",
	// "Validation" or "Test". Empty means Training if present, else the
	// only set.
	Part string
	// MaxPairs, when positive, loads only the first MaxPairs pairs by id;
	// for quick looks and tests.
	MaxPairs int
	// Progress, if set, is called from the calling goroutine after each
	// pair is decoded, with the number done and the total. Not called on a
	// cache hit.
	Progress func(done, total int)
}

// LoadReport says what [Load] found, loaded and skipped, and why.
type LoadReport struct {
	// Dir is the folder given to Load; ImageDir and MaskDir the two
	// folders read.
	Dir, ImageDir, MaskDir string
	// Images and Masks count the image and mask files found.
	Images, Masks int
	// Pairs is the number of pairs loaded: the length of the dataset.
	Pairs int
	// ImagesWithoutMask and MasksWithoutImage list the unpaired files,
	// which are skipped.
	ImagesWithoutMask, MasksWithoutImage []string
	// Rejected lists the files that could not be used, and why.
	Rejected []Rejection
	// SizeMismatches lists the pairs whose mask is not the size of its
	// image; they are skipped.
	SizeMismatches []SizeMismatch
	// Thresholded lists the masks that held values other than 0 and one
	// lesion value; they were thresholded at one half and are loaded.
	Thresholded []string
	// Ignored lists the files that are neither images nor masks (licences,
	// attributions, superpixels, hidden files).
	Ignored []string
	// Duration is the time Load took.
	Duration time.Duration
	// CacheHit is true when the tensors came from the cache; CacheFile is
	// the cache file used or written, empty without cache.
	CacheHit  bool
	CacheFile string
}

// Rejection is a file that could not be used.
type Rejection struct {
	// File is the path of the file at fault.
	File string
	// Reason says what is wrong with it.
	Reason string
}

// SizeMismatch is a pair whose mask and image differ in size.
type SizeMismatch struct {
	ID, ImageFile, MaskFile string
	// Image and Mask are the width and height of each file.
	Image, Mask image.Point
}

// String describes the mismatch with both sizes.
func (m SizeMismatch) String() string {
	return fmt.Sprintf("%s: image %s is %dx%d but mask %s is %dx%d", m.ID,
		m.ImageFile, m.Image.X, m.Image.Y, m.MaskFile, m.Mask.X, m.Mask.Y)
}

// pair is one image with its mask, found on disk.
type pair struct {
	id, image, mask string
}

// Load reads the ISIC lesion images and masks under dir into a dataset of
// Size x Size gray images and binary masks, sorted by id.
//
// dir may be the folder that holds the image and mask folders, or either of
// them (the other is found beside it). The folder names of the ISIC 2018
// Task 1 release (Training, Validation or Test), of ISIC 2017 Part 1 and
// of ISBI 2016 Part 1 are recognized; masks are named ID_segmentation.png
// or ID_Segmentation.png. Files that are neither are ignored.
//
// Unpaired, corrupt, oversized (see [MaxPixels]) and size-mismatched files
// are skipped with a warning and listed in the report; Load fails only when
// the folder is missing or nothing usable remains. Results are cached (see
// [LoadOptions]): the cache is keyed by the names, sizes and modification
// times of the files and by the options, and rebuilt when stale or damaged.
// Image values are rounded to multiples of 1/65535, the cached precision, so
// a cached load returns exactly what a fresh one does.
func Load(dir string, opts LoadOptions) (*Dataset, error) {
	start := time.Now()
	if opts.Size == 0 {
		opts.Size = DefaultSize
	}
	if opts.Size < 0 {
		return nil, fmt.Errorf("image size %d is invalid: it must be positive", opts.Size)
	}
	l, err := findLayout(dir, opts.Part)
	if err != nil {
		return nil, err
	}
	report := &LoadReport{Dir: dir, ImageDir: l.imageDir, MaskDir: l.maskDir}
	pairs, listing, err := findPairs(l, report)
	if err != nil {
		return nil, err
	}
	if opts.MaxPairs > 0 && len(pairs) > opts.MaxPairs {
		pairs = pairs[:opts.MaxPairs]
	}

	// A cache hit skips all decoding; its report is the one of the load
	// that built it.
	var cache *cacheFile
	if !opts.NoCache {
		cache, err = newCacheFile(opts, l, listing)
		if err != nil {
			klog.Warningf("isic: not caching: %v", err)
		}
	}
	if cache != nil {
		if d, ok := cache.read(); ok {
			d.Report.Dir = dir
			d.Report.CacheHit = true
			d.Report.Duration = time.Since(start)
			klog.V(1).Infof("isic: loaded %d pairs from cache %s in %s", d.Len(), cache.path,
				d.Report.Duration)
			return d, nil
		}
	}

	d := decodePairs(pairs, opts, report)
	if d.Len() == 0 {
		return nil, nothingUsable(report)
	}
	d.Source = dir
	report.Pairs = d.Len()
	if cache != nil {
		report.CacheFile = cache.path
		if err := cache.write(d); err != nil {
			klog.Warningf("isic: could not write cache: %v", err)
			report.CacheFile = ""
		}
	}
	report.Duration = time.Since(start)
	klog.V(1).Infof("isic: decoded %d pairs from %s in %s", d.Len(), dir, report.Duration)
	return d, nil
}

// fileEntry is one file of a folder listing, as the cache key sees it.
type fileEntry struct {
	Name    string
	Size    int64
	ModTime int64
}

// findPairs lists the image and mask folders of l, matches images to masks
// by id, and records unpaired and ignored files in report. It returns the
// pairs sorted by id and the listing of every image and mask file.
func findPairs(l layout, report *LoadReport) ([]pair, []fileEntry, error) {
	images, imgList, err := listFolder(l.imageDir, imageID, report)
	if err != nil {
		return nil, nil, err
	}
	masks, maskList, err := listFolder(l.maskDir, maskID, report)
	if err != nil {
		return nil, nil, err
	}
	report.Images, report.Masks = len(images), len(masks)
	if len(images) == 0 && len(masks) == 0 {
		return nil, nil, fmt.Errorf("found no images in %q and no masks in %q; %s",
			l.imageDir, l.maskDir, expectedLayout)
	}

	var pairs []pair
	for id, img := range images {
		if m, ok := masks[id]; ok {
			pairs = append(pairs, pair{id: id, image: img, mask: m})
		} else {
			report.ImagesWithoutMask = append(report.ImagesWithoutMask, img)
		}
	}
	for id, m := range masks {
		if _, ok := images[id]; !ok {
			report.MasksWithoutImage = append(report.MasksWithoutImage, m)
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].id < pairs[j].id })
	sort.Strings(report.ImagesWithoutMask)
	sort.Strings(report.MasksWithoutImage)
	for _, f := range report.ImagesWithoutMask {
		klog.Warningf("isic: skipping image without mask: %s", f)
	}
	for _, f := range report.MasksWithoutImage {
		klog.Warningf("isic: skipping mask without image: %s", f)
	}
	return pairs, append(imgList, maskList...), nil
}

// listFolder maps the ids of the files of dir that idOf recognizes to their
// paths, adds the others to report.Ignored, and returns the listing of the
// recognized files (names prefixed by dir's base name, so the two folders
// cannot collide in a cache key).
func listFolder(dir string, idOf func(name string) (string, bool),
	report *LoadReport) (map[string]string, []fileEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list folder %q: %w", dir, err)
	}
	byID := map[string]string{}
	var listing []fileEntry
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		id, ok := idOf(e.Name())
		if e.IsDir() || !ok {
			report.Ignored = append(report.Ignored, path)
			continue
		}
		if prev, dup := byID[id]; dup {
			report.Rejected = append(report.Rejected, Rejection{File: path,
				Reason: fmt.Sprintf("same id %q as %s; remove one of the two", id, prev)})
			continue
		}
		info, err := e.Info()
		if err != nil {
			report.Rejected = append(report.Rejected, Rejection{File: path, Reason: err.Error()})
			continue
		}
		byID[id] = path
		listing = append(listing, fileEntry{Name: filepath.Base(dir) + "/" + e.Name(),
			Size: info.Size(), ModTime: info.ModTime().UnixNano()})
	}
	return byID, listing, nil
}

// imageID recognizes a lesion image file name, ID.jpg, ID.jpeg or ID.png,
// and returns its id. Hidden files and superpixel maps are not images.
func imageID(name string) (string, bool) {
	if strings.HasPrefix(name, ".") {
		return "", false
	}
	ext := strings.ToLower(filepath.Ext(name))
	if ext != ".jpg" && ext != ".jpeg" && ext != ".png" {
		return "", false
	}
	id := name[:len(name)-len(ext)]
	if id == "" || strings.HasSuffix(strings.ToLower(id), "_superpixels") {
		return "", false
	}
	return id, true
}

// maskSuffix ends every mask file name, in any letter case.
const maskSuffix = "_segmentation.png"

// maskID recognizes a mask file name, ID_segmentation.png (any case), and
// returns its id.
func maskID(name string) (string, bool) {
	if strings.HasPrefix(name, ".") || len(name) <= len(maskSuffix) ||
		!strings.EqualFold(name[len(name)-len(maskSuffix):], maskSuffix) {
		return "", false
	}
	return name[:len(name)-len(maskSuffix)], true
}

// outcome is what decoding one pair gave.
type outcome struct {
	ok, thresholded bool
	rejection       *Rejection
	mismatch        *SizeMismatch
}

// decodePairs decodes and preprocesses pairs on opts.Workers goroutines and
// returns those that worked, in order; the others go into report.
func decodePairs(pairs []pair, opts LoadOptions, report *LoadReport) *Dataset {
	n := opts.Size * opts.Size
	d := &Dataset{
		Size:   opts.Size,
		IDs:    make([]string, len(pairs)),
		Images: make([]float32, len(pairs)*n),
		Masks:  make([]float32, len(pairs)*n),
		Report: report,
	}

	// Workers write straight into the slot of their pair.
	outcomes := make([]outcome, len(pairs))
	var progress func(done int)
	if opts.Progress != nil {
		progress = func(done int) { opts.Progress(done, len(pairs)) }
	}
	parallelFor(len(pairs), opts.Workers, func(i int) {
		outcomes[i] = decodePair(pairs[i], opts.Size, d.Image(i), d.Mask(i))
	}, progress)
	return keepDecoded(d, pairs, outcomes, report)
}

// keepDecoded compacts d to the pairs that decoded, in order, and records
// the others in report.
func keepDecoded(d *Dataset, pairs []pair, outcomes []outcome, report *LoadReport) *Dataset {
	n := d.Pixels()
	kept := 0
	for i, o := range outcomes {
		switch {
		case o.rejection != nil:
			klog.Warningf("isic: skipping %s: %s", o.rejection.File, o.rejection.Reason)
			report.Rejected = append(report.Rejected, *o.rejection)
		case o.mismatch != nil:
			klog.Warningf("isic: skipping %s", o.mismatch)
			report.SizeMismatches = append(report.SizeMismatches, *o.mismatch)
		}
		if !o.ok {
			continue
		}
		if o.thresholded {
			report.Thresholded = append(report.Thresholded, pairs[i].mask)
		}
		d.IDs[kept] = pairs[i].id
		copy(d.Images[kept*n:(kept+1)*n], d.Images[i*n:(i+1)*n])
		copy(d.Masks[kept*n:(kept+1)*n], d.Masks[i*n:(i+1)*n])
		kept++
	}
	d.IDs = d.IDs[:kept]
	d.Images = d.Images[:kept*n]
	d.Masks = d.Masks[:kept*n]
	return d
}

// decodePair checks the headers of a pair, then decodes and preprocesses
// both files into img and mask, which must have size*size elements.
func decodePair(p pair, size int, img, mask []float32) outcome {
	imgCfg, err := DecodeConfigFile(p.image)
	if err != nil {
		return reject(p.image, err)
	}
	maskCfg, err := DecodeConfigFile(p.mask)
	if err != nil {
		return reject(p.mask, err)
	}
	if imgCfg.Width != maskCfg.Width || imgCfg.Height != maskCfg.Height {
		return outcome{mismatch: &SizeMismatch{ID: p.id, ImageFile: p.image, MaskFile: p.mask,
			Image: image.Pt(imgCfg.Width, imgCfg.Height), Mask: image.Pt(maskCfg.Width, maskCfg.Height)}}
	}

	decoded, err := DecodeFile(p.image)
	if err != nil {
		return reject(p.image, err)
	}
	decodedMask, err := DecodeFile(p.mask)
	if err != nil {
		return reject(p.mask, err)
	}
	m, nonBinary := PreprocessMask(decodedMask, size)
	copy(mask, m)
	for i, v := range PreprocessImage(decoded, size) {
		// Rounded like the cache stores it, so cached loads are identical.
		img[i] = float32(quantize(v)) / 65535
	}
	return outcome{ok: true, thresholded: nonBinary}
}

// reject is the outcome of a file that failed with err. The errors of
// DecodeFile start with the path, which the Rejection already holds.
func reject(path string, err error) outcome {
	reason := strings.TrimPrefix(err.Error(), path+": ")
	return outcome{rejection: &Rejection{File: path, Reason: reason}}
}

// nothingUsable explains why a load gave no pair at all.
func nothingUsable(r *LoadReport) error {
	var why []string
	if r.Images == 0 {
		why = append(why, fmt.Sprintf("no image files (ID.jpg) in %q", r.ImageDir))
	}
	if r.Masks == 0 {
		why = append(why, fmt.Sprintf("no mask files (ID_segmentation.png) in %q", r.MaskDir))
	}
	if n := len(r.ImagesWithoutMask) + len(r.MasksWithoutImage); n > 0 && r.Images > 0 && r.Masks > 0 {
		why = append(why, fmt.Sprintf("%d unpaired files (no image and mask share an id)", n))
	}
	if n := len(r.Rejected); n > 0 {
		why = append(why, fmt.Sprintf("%d unreadable files (first: %s: %s)", n,
			r.Rejected[0].File, r.Rejected[0].Reason))
	}
	if n := len(r.SizeMismatches); n > 0 {
		why = append(why, fmt.Sprintf("%d pairs of different sizes (first: %s)", n,
			r.SizeMismatches[0]))
	}
	return fmt.Errorf("no usable image and mask pair in %q: %s; %s", r.Dir,
		strings.Join(why, "; "), expectedLayout)
}
