/**
 * The tensors of a converted pyannote segmentation-3.0 (PyanNet) weights file: PyTorch's names and
 * layouts, except that SincNet's learned band-pass parameters are replaced by the filters they define
 * (`sincnet.conv1d.0.weight`, `[80, 1, 251]`). The single source of truth for the converter, the
 * loader's expectations (csrc/segmentation.cpp) and the tests.
 *
 * @module
 */
import type { WeightSpec } from "./model_layout.ts";

/** SincNet: 80 filters (40 cosine, 40 sine) of 251 taps, stride 10; then two 60-channel convs of width 5. */
export const SINC_FILTERS = 80;
/** Taps of each sinc filter. */
export const SINC_KERNEL = 251;
/** Output channels of SincNet's second and third convolutions. */
export const CONV_CHANNELS = 60;
/** Hidden units per direction of each LSTM layer. */
export const LSTM_HIDDEN = 128;
/** Bidirectional LSTM layers. */
export const LSTM_LAYERS = 4;
/** Width of the two Linear layers after the LSTM. */
export const LINEAR_HIDDEN = 128;
/** Powerset classes: no speaker, 3 single speakers, 3 pairs. */
export const POWERSET_CLASSES = 7;

/** `config.json` written next to converted segmentation weights. */
export const SEGMENTATION_CONFIG = {
  model_type: "pyannote-segmentation-3.0",
  architecture: "PyanNet",
  sample_rate: 16000,
  sincnet: { filters: SINC_FILTERS, kernel_size: SINC_KERNEL, stride: 10, precomputed: true },
  lstm: { hidden_size: LSTM_HIDDEN, num_layers: LSTM_LAYERS, bidirectional: true },
  linear: { hidden_size: LINEAR_HIDDEN, num_layers: 2 },
  powerset: { num_classes: 3, max_set_size: 2, classes: POWERSET_CLASSES },
} as const;

/** Every tensor of a converted segmentation file with its shape, in network order. */
export function segmentationWeights(): WeightSpec[] {
  const specs: WeightSpec[] = [];
  const add = (name: string, ...shape: number[]) => specs.push({ name, shape });
  add("sincnet.wav_norm1d.weight", 1);
  add("sincnet.wav_norm1d.bias", 1);
  add("sincnet.conv1d.0.weight", SINC_FILTERS, 1, SINC_KERNEL);
  add("sincnet.norm1d.0.weight", SINC_FILTERS);
  add("sincnet.norm1d.0.bias", SINC_FILTERS);
  for (const [k, inputs] of [[1, SINC_FILTERS], [2, CONV_CHANNELS]]) {
    add(`sincnet.conv1d.${k}.weight`, CONV_CHANNELS, inputs, 5);
    add(`sincnet.conv1d.${k}.bias`, CONV_CHANNELS);
    add(`sincnet.norm1d.${k}.weight`, CONV_CHANNELS);
    add(`sincnet.norm1d.${k}.bias`, CONV_CHANNELS);
  }
  for (let l = 0; l < LSTM_LAYERS; l++) {
    for (const suffix of ["", "_reverse"]) {
      add(`lstm.weight_ih_l${l}${suffix}`, 4 * LSTM_HIDDEN, l === 0 ? CONV_CHANNELS : 2 * LSTM_HIDDEN);
      add(`lstm.weight_hh_l${l}${suffix}`, 4 * LSTM_HIDDEN, LSTM_HIDDEN);
      add(`lstm.bias_ih_l${l}${suffix}`, 4 * LSTM_HIDDEN);
      add(`lstm.bias_hh_l${l}${suffix}`, 4 * LSTM_HIDDEN);
    }
  }
  add("linear.0.weight", LINEAR_HIDDEN, 2 * LSTM_HIDDEN);
  add("linear.0.bias", LINEAR_HIDDEN);
  add("linear.1.weight", LINEAR_HIDDEN, LINEAR_HIDDEN);
  add("linear.1.bias", LINEAR_HIDDEN);
  add("classifier.weight", POWERSET_CLASSES, LINEAR_HIDDEN);
  add("classifier.bias", POWERSET_CLASSES);
  return specs;
}
