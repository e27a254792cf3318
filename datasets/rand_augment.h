// timm's RandAugment (rand-m{M}-mstd{S}-inc1: the 15 "increasing" operations) on 8-bit RGB images.
#pragma once
#include "datasets/image_ops.h"

namespace rpct {

// RandAugment (timm rand-m{M}-mstd{S}-inc1) applied in place to an RGB image.
void rand_augment(Image& img, int num_ops, double magnitude, double magnitude_std, double prob, SampleRng& rng);

}  // namespace rpct
