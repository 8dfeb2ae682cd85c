// Package plotting draws the pictures of the MedNCA project: ISIC images with
// their lesion mask outlined, training curves read from metrics.csv,
// prediction galleries (image, truth, prediction, overlay, uncertainty) and
// the growth of the NCA state over the steps of both levels.
//
// Every picture is an ordinary [image.Image], so batch programs save it with
// [SavePNG] and notebooks show it inline with [DisplayImage]. The notebook
// helpers do nothing outside GoNB, so the same code runs in both places.
//
// # Conventions
//
// Gray images, masks and probability maps are row-major []float32 slices of
// size*size values in [0,1]. A mask pixel is inside the lesion when its value
// is above 0.5. Truth outlines are drawn in [TruthColor] and predicted
// outlines in [PredColor].
package plotting
