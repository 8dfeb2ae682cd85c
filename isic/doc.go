// Package isic provides the skin-lesion images and masks that MedNCA trains
// and evaluates on: the ISIC 2016-2018 lesion segmentation releases read from
// disk, and a procedural synthetic set that looks like dermoscopy.
//
// # Datasets
//
// A [Dataset] holds N x N gray images in [0,1] and binary masks in {0,1},
// stored flat and row-major in float32, one pair per lesion id. [Load] reads a
// folder in the official ISIC layout:
//
//	ISIC2018_Task1-2_Training_Input/ISIC_0000000.jpg
//	ISIC2018_Task1_Training_GroundTruth/ISIC_0000000_segmentation.png
//
// (also the Validation and Test folders, and the 2016/2017 spellings; see
// [Load]). It decodes on all cores, converts to gray by luma, resizes with a
// Catmull-Rom filter widened for downscaling, thresholds the masks, and
// reports what it skipped and why in a [LoadReport]. The result is cached on
// disk, so a second load of the same folder costs a file read.
//
// [Synthetic] draws lesions on textured skin with exact masks; it needs no
// files and is the default data of training and of every package's tests.
// [WriteSynthetic] writes the same samples to disk in the official layout.
//
// # Splits and batches
//
// [Dataset.Split] assigns each id to train, validation or test by a hash of
// the seed and the id, so an id stays in its split whatever other files are
// present. [NewBatches] turns a dataset into a GoMLX train.Dataset that
// yields images and masks as [B,N,N,1] float32 tensors, reshuffled and
// optionally augmented on every epoch, or in order for evaluation.
package isic
