#include "trainer/model_options.h"

namespace rpct {

ViTOptions vit_options(const Config& cfg) {
  const ModelConfig& m = cfg.model;
  const AttentionConfig& a = cfg.attention;
  ViTOptions o;
  o.img_size = m.img_size;
  o.patch = m.patch;
  o.in_chans = m.in_chans;
  o.num_classes = m.num_classes;
  o.dim = m.dim;
  o.depth = m.depth;
  o.heads = m.heads;
  o.mlp_ratio = m.mlp_ratio;
  o.drop_path = m.drop_path;
  o.dropout = m.dropout;
  o.avg_pool = m.global_pool == "avg";
  o.ln_eps = m.ln_eps;
  o.attention.kind = parse_attention_kind(a.kind);
  o.attention.path = parse_attention_path(a.impl);
  o.attention.attn_drop = a.attn_drop;
  o.attention.rpc_n_iter = a.rpc_n_iter;
  o.attention.rpc_lambda = a.rpc_lambda;
  o.attention.rpc_layers = a.rpc_layers;
  o.attention.rpc_all_layers = a.rpc_all_layers;
  return o;
}

SegmenterOptions segmenter_options(const Config& cfg) {
  SegmenterOptions o;
  o.encoder = vit_options(cfg);
  o.n_cls = cfg.model.num_classes;
  o.decoder = parse_seg_decoder_kind(cfg.seg.decoder);
  o.decoder_depth = cfg.seg.decoder_depth;
  o.decoder_dropout = cfg.seg.decoder_dropout;
  o.decoder_attention = o.encoder.attention;  // RPC in the decoder's blocks of attention.rpc.layers too
  return o;
}

}  // namespace rpct
