package isic

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// expectedLayout is shown in errors about folders, so the user knows what to
// give.
const expectedLayout = `expected the ISIC lesion segmentation layout:
    DIR/ISIC2018_Task1-2_Training_Input/ISIC_0000000.jpg
    DIR/ISIC2018_Task1_Training_GroundTruth/ISIC_0000000_segmentation.png
(or the Validation/Test folders, or ISIC-2017_*_Data with ISIC-2017_*_Part1_GroundTruth,
or ISBI2016_ISIC_Part1_*_Data with ISBI2016_ISIC_Part1_*_GroundTruth); give DIR
or either of the two folders`

// folderKind tells images from masks.
type folderKind int

const (
	notISIC folderKind = iota
	imageFolder
	maskFolder
)

// folderName is what the name of an ISIC folder says about it.
type folderName struct {
	kind folderKind
	// set names the release and part, e.g. "ISIC2018 Training" or
	// "ISIC-2017 Test_v2": an image folder and a mask folder pair up when
	// their sets are equal.
	set string
	// part is Training, Validation or Test.
	part string
}

// parseFolderName recognizes the official folder names of the ISIC 2016,
// 2017 and 2018 lesion segmentation releases. Folders of the other tasks
// (attributes, superpixels, classification) are notISIC.
func parseFolderName(name string) folderName {
	tokens := strings.Split(name, "_")
	if len(tokens) < 3 {
		return folderName{}
	}
	release := tokens[0]
	if !strings.HasPrefix(release, "ISIC") && !strings.HasPrefix(release, "ISBI") {
		return folderName{}
	}
	var fn folderName
	switch tokens[len(tokens)-1] {
	case "Input", "Data":
		fn.kind = imageFolder
	case "GroundTruth":
		fn.kind = maskFolder
	default:
		return folderName{}
	}

	// Find the part; the folders of the other tasks, which sit beside the
	// segmentation ones, are not ours.
	rest := tokens[1:]
	for i, tok := range rest {
		switch {
		case tok == "Training" || tok == "Validation" || tok == "Test":
			if fn.part == "" {
				fn.part, fn.set = tok, release+" "+tok
				if i+1 < len(rest) && isVersion(rest[i+1]) {
					fn.set += "_" + rest[i+1]
				}
			}
		case strings.HasPrefix(tok, "Task") && !strings.HasPrefix(tok, "Task1"):
			return folderName{}
		case tok == "Part2" || tok == "Part3":
			return folderName{}
		}
	}
	if fn.part == "" {
		return folderName{}
	}
	return fn
}

// isVersion reports whether tok is a release version like "v2".
func isVersion(tok string) bool {
	if len(tok) < 2 || tok[0] != 'v' {
		return false
	}
	for _, c := range tok[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// layout is a resolved pair of folders: the images and their masks.
type layout struct {
	imageDir, maskDir string
	// part is Training, Validation or Test.
	part string
}

// findLayout resolves dir, which may be the folder holding the image and
// mask folders or either of them, into the pair to load. part chooses among
// several sets (Training, Validation, Test) in one folder; empty means
// Training when present, else the only set.
func findLayout(dir, part string) (layout, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return layout{}, fmt.Errorf("folder %q does not exist; %s", dir, expectedLayout)
	}
	if err != nil {
		return layout{}, fmt.Errorf("cannot read folder %q: %w", dir, err)
	}
	if !info.IsDir() {
		return layout{}, fmt.Errorf("%q is a file, not a folder; %s", dir, expectedLayout)
	}
	dir = filepath.Clean(dir)

	// Given one of the two folders: look for its twin beside it.
	if fn := parseFolderName(filepath.Base(dir)); fn.kind != notISIC {
		parent := filepath.Dir(dir)
		sets, err := scanSets(parent)
		if err != nil {
			return layout{}, err
		}
		l := sets[fn.set]
		if l.imageDir == "" || l.maskDir == "" {
			want := "mask (…_GroundTruth)"
			if fn.kind == maskFolder {
				want = "image (…_Input or …_Data)"
			}
			return layout{}, fmt.Errorf("found no %s folder of the set %q beside %q in %q; %s",
				want, fn.set, filepath.Base(dir), parent, expectedLayout)
		}
		return l, nil
	}

	sets, err := scanSets(dir)
	if err != nil {
		return layout{}, err
	}
	return chooseSet(dir, sets, part)
}

// scanSets lists the ISIC image and mask folders inside dir, by set.
func scanSets(dir string) (map[string]layout, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list folder %q: %w", dir, err)
	}
	sets := map[string]layout{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fn := parseFolderName(e.Name())
		l := sets[fn.set]
		l.part = fn.part
		switch fn.kind {
		case imageFolder:
			l.imageDir = filepath.Join(dir, e.Name())
		case maskFolder:
			l.maskDir = filepath.Join(dir, e.Name())
		default:
			continue
		}
		sets[fn.set] = l
	}
	return sets, nil
}

// chooseSet picks the complete set (image and mask folder) to load from
// sets found in dir.
func chooseSet(dir string, sets map[string]layout, part string) (layout, error) {
	var complete []string
	for set, l := range sets {
		if l.imageDir != "" && l.maskDir != "" {
			complete = append(complete, set)
		}
	}
	sort.Strings(complete)
	if len(complete) == 0 {
		return layout{}, fmt.Errorf("found no pair of ISIC image and mask folders in %q; %s",
			dir, expectedLayout)
	}

	// Without a part, Training wins: it is what a model trains on.
	want := part
	if want == "" && len(complete) > 1 {
		want = "Training"
	}
	var matches []string
	for _, set := range complete {
		if want == "" || strings.EqualFold(sets[set].part, want) || strings.HasSuffix(set, " "+want) {
			matches = append(matches, set)
		}
	}
	switch {
	case len(matches) == 1:
		return sets[matches[0]], nil
	case len(matches) == 0 && part != "":
		return layout{}, fmt.Errorf("found no %q set in %q, only %s; choose one of those",
			part, dir, strings.Join(complete, ", "))
	default:
		return layout{}, fmt.Errorf("found several sets in %q (%s); choose one with the part "+
			"option (Training, Validation or Test) or give its folder", dir,
			strings.Join(complete, ", "))
	}
}
