package isic

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
)

// CacheDirEnv is the environment variable that sets the default cache
// folder of [Load].
const CacheDirEnv = "MEDNCA_CACHE_DIR"

// DefaultCacheDir is where [Load] caches preprocessed tensors when
// LoadOptions.CacheDir is empty: $MEDNCA_CACHE_DIR, else
// os.UserCacheDir()/mednca.
func DefaultCacheDir() (string, error) {
	if dir := os.Getenv(CacheDirEnv); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache folder (%w); set %s or the cache folder option",
			err, CacheDirEnv)
	}
	return filepath.Join(base, "mednca"), nil
}

// cacheMagic opens every cache file; its last byte is the format version,
// raised whenever the layout or the preprocessing changes.
var cacheMagic = []byte("MEDNCA-ISIC-CACHE\x00\x00\x02")

// crcTable is CRC-32C, which the CPU computes in hardware on most machines.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// cacheFile is the cache of one folder pair at one set of options.
//
// The file is named by a hash of the folders and options, so a folder has
// one cache file per size that is overwritten when the folder changes; the
// hash of its contents (names, sizes, modification times) is stored inside
// and compared on read.
//
// Layout: magic, uint32 header length, JSON header, images as uint16
// (value*65535), masks one bit per pixel, then CRC-32C of all that; all
// little-endian.
type cacheFile struct {
	path        string
	contentHash string
	size        int
}

// cacheHeader is the JSON part of a cache file.
type cacheHeader struct {
	ContentHash string
	Size        int
	IDs         []string
	Report      *LoadReport
}

// newCacheFile names the cache of folder pair l at opts, whose image and
// mask files are listed in listing.
func newCacheFile(opts LoadOptions, l layout, listing []fileEntry) (*cacheFile, error) {
	dir := opts.CacheDir
	if dir == "" {
		var err error
		if dir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	imageDir, err := filepath.Abs(l.imageDir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", l.imageDir, err)
	}
	maskDir, err := filepath.Abs(l.maskDir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %q: %w", l.maskDir, err)
	}
	slot := hashJSON(cacheMagic, imageDir, maskDir, opts.Size, opts.MaxPairs)
	return &cacheFile{
		path:        filepath.Join(dir, "isic-"+slot[:24]+".cache"),
		contentHash: hashJSON(listing),
		size:        opts.Size,
	}, nil
}

// hashJSON is the hex SHA-256 of the JSON encoding of values.
func hashJSON(values ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			panic(fmt.Sprintf("isic: cannot encode cache key: %v", err))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// read returns the cached dataset, or false when the file is missing,
// stale or damaged (logged; the caller rebuilds it).
func (c *cacheFile) read() (*Dataset, bool) {
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false
	}
	if err == nil {
		var d *Dataset
		if d, err = c.parse(data); err == nil {
			return d, true
		}
	}
	klog.Infof("isic: rebuilding cache %s: %v", c.path, err)
	return nil, false
}

// parse decodes and checks the contents of a cache file.
func (c *cacheFile) parse(data []byte) (*Dataset, error) {
	const crcLen = 4
	if len(data) < len(cacheMagic)+4+crcLen || !bytes.Equal(data[:len(cacheMagic)], cacheMagic) {
		return nil, errors.New("not a cache file of this version")
	}
	body, sum := data[:len(data)-crcLen], binary.LittleEndian.Uint32(data[len(data)-crcLen:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, errors.New("checksum mismatch (damaged or partly written)")
	}
	rest := body[len(cacheMagic):]
	headerLen := int(binary.LittleEndian.Uint32(rest))
	rest = rest[4:]
	if headerLen > len(rest) {
		return nil, errors.New("header longer than the file")
	}
	var h cacheHeader
	if err := json.Unmarshal(rest[:headerLen], &h); err != nil {
		return nil, fmt.Errorf("bad header: %w", err)
	}
	if h.ContentHash != c.contentHash || h.Size != c.size || h.Report == nil {
		return nil, errors.New("the folder changed since it was cached")
	}
	rest = rest[headerLen:]

	pixels := len(h.IDs) * h.Size * h.Size
	if len(rest) != 2*pixels+(pixels+7)/8 {
		return nil, fmt.Errorf("payload is %d bytes, want %d", len(rest), 2*pixels+(pixels+7)/8)
	}
	d := &Dataset{Size: h.Size, IDs: h.IDs, Images: make([]float32, pixels),
		Masks: make([]float32, pixels), Source: h.Report.Dir, Report: h.Report}
	// Unpacking hundreds of megabytes is worth all cores; chunks hold a
	// whole number of mask bytes.
	const chunk = 1 << 20
	bits := rest[2*pixels:]
	parallelFor((pixels+chunk-1)/chunk, 0, func(c int) {
		start, end := c*chunk, min((c+1)*chunk, pixels)
		words := rest[2*start : 2*end]
		for i := range d.Images[start:end] {
			d.Images[start+i] = float32(binary.LittleEndian.Uint16(words[2*i:])) / 65535
		}
		for i := start; i < end; i++ {
			d.Masks[i] = float32(bits[i>>3] >> (i & 7) & 1)
		}
	}, nil)
	return d, nil
}

// write stores d in the cache: into a temporary file renamed over the
// cache file at the end, so a killed process leaves no partial cache.
func (c *cacheFile) write(d *Dataset) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("cannot create cache folder: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot create cache file: %w", err)
	}
	defer os.Remove(tmp.Name()) // No-op after the rename.

	err = c.encode(tmp, d)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("cannot write cache file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("cannot move cache file into place: %w", err)
	}
	return nil
}

// encode writes the cache file contents of d to w.
func (c *cacheFile) encode(w io.Writer, d *Dataset) error {
	header, err := json.Marshal(cacheHeader{ContentHash: c.contentHash, Size: d.Size,
		IDs: d.IDs, Report: d.Report})
	if err != nil {
		return err
	}
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<20)
	bw.Write(cacheMagic)
	bw.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(header))))
	bw.Write(header)
	var buf [2]byte
	for _, v := range d.Images {
		binary.LittleEndian.PutUint16(buf[:], quantize(v))
		bw.Write(buf[:])
	}
	var bits byte
	for i, v := range d.Masks {
		if v > 0.5 {
			bits |= 1 << (i & 7)
		}
		if i&7 == 7 || i == len(d.Masks)-1 {
			bw.WriteByte(bits)
			bits = 0
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}
