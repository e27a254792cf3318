// Config -> the models' option structs (models take small options structs; the mapping from a Config lives
// here, in trainer/, as trainer/data.h does for the data sources).
#pragma once
#include "models/segmenter.h"
#include "models/vit.h"
#include "trainer/config.h"

namespace rpct {

// model.* and attention.* of the config as the ViT's options.
ViTOptions vit_options(const Config& cfg);

// model.*, attention.* and seg.* of the config as the Segmenter's options (the encoder's classifier head
// is not built; model.num_classes is the number of segmentation classes).
SegmenterOptions segmenter_options(const Config& cfg);

}  // namespace rpct
