/**
 * trepo: reinforcement learning of language-model policies from response-level rewards.
 *
 * Composable primitives (sample → score → advantage → loss) over tfjs tensors, and the
 * algorithms compared in "Response-Level Rewards Are All You Need for Online Reinforcement
 * Learning in LLMs" (arXiv 2506.02553): PPO, GRPO, ReMax, RLOO, REINFORCE and TRePO.
 *
 * @example Seeded randomness and a backend
 * ```ts
 * import { initBackend, Random, tf } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rng = new Random(1);
 * assertEquals(rng.int(6) < 6, true);
 * assertEquals(tf.getBackend(), "cpu");
 * ```
 *
 * @module
 */
import * as tfjs from "@tensorflow/tfjs";

/** The tfjs namespace trepo uses; share it so that tensors come from one tfjs instance. */
export const tf: typeof tfjs = tfjs;
export {
  type BackendInfo,
  type BackendName,
  BACKENDS,
  initBackend,
  type InitBackendOptions,
  type WebGpuLimits,
  webgpuLimits,
} from "./lib/backend.ts";
export {
  BLAS_LIBRARIES,
  BLAS_MODES,
  type BlasMode,
  loadNativeGemm,
  nativeGemmActive,
  type NativeGemmStatus,
  setNativeGemm,
} from "./lib/native_gemm.ts";
export { fusedAdam, FusedAdamOptimizer, setSimdAdam } from "./lib/policy/fused_adam.ts";
export { Random, type RandomState } from "./lib/random.ts";
export { policyGradientLoss, type PolicyGradientLossInputs } from "./lib/loss/policy_gradient.ts";
export {
  type ClippedSurrogateInputs,
  clippedSurrogateLoss,
  type ClippedSurrogateOptions,
} from "./lib/loss/clipped_surrogate.ts";
export {
  KL_ESTIMATORS,
  type KlEstimator,
  klPenalty,
  type KlPenaltyOptions,
} from "./lib/loss/kl_penalty.ts";
export { valueLoss, type ValueLossInputs, type ValueLossOptions } from "./lib/loss/value_loss.ts";
export { entropyFromLogits } from "./lib/loss/entropy.ts";
export { truncatedImportanceWeights } from "./lib/loss/truncated_importance_weights.ts";
export {
  aggregateLoss,
  type AggregateLossOptions,
  AGGREGATION_MODES,
  type AggregationMode,
} from "./lib/loss/aggregate.ts";
export {
  clipFraction,
  clipFractionCounts,
  type ClipFractionInputs,
  type ClipFractionOptions,
} from "./lib/metrics/clip_fraction.ts";
export { approxKl, approxKlSums } from "./lib/metrics/approx_kl.ts";
export { samplerLogProbGap } from "./lib/metrics/sampler_gap.ts";
export { explainedVariance, explainedVarianceAsync } from "./lib/metrics/explained_variance.ts";
export {
  type RewardStats,
  rewardStats,
  type RewardStatsOptions,
} from "./lib/metrics/reward_stats.ts";
export { baselineAdvantages } from "./lib/advantage/baseline.ts";
export { broadcastToTokens } from "./lib/advantage/broadcast_to_tokens.ts";
export {
  discountedReturns,
  type DiscountedReturnsOptions,
} from "./lib/advantage/discounted_returns.ts";
export {
  type GeneralizedAdvantages,
  generalizedAdvantages,
  type GeneralizedAdvantagesInputs,
  type GeneralizedAdvantagesOptions,
} from "./lib/advantage/generalized_advantages.ts";
export {
  GROUP_SCALES,
  groupRelativeAdvantages,
  type GroupRelativeOptions,
  type GroupScale,
} from "./lib/advantage/group_relative.ts";
export { interpolatePrefixValues } from "./lib/advantage/interpolate_prefix_values.ts";
export { leaveOneOutAdvantages, type LeaveOneOutOptions } from "./lib/advantage/leave_one_out.ts";
export { prefixValueAdvantages } from "./lib/advantage/prefix_value.ts";
export { whiten, type WhitenOptions } from "./lib/advantage/whiten.ts";
export {
  clonePolicy,
  createPolicy,
  freezePolicy,
  type Policy,
  type PolicyConfig,
  policyWeightSpecs,
  validatePolicyConfig,
  type WeightInit,
  type WeightSpec,
} from "./lib/policy/transformer.ts";
export {
  createValueModel,
  type ValueModel,
  valueModelWeightSpecs,
} from "./lib/policy/value_model.ts";
export { disposeRollout, type Rollout } from "./lib/sample/rollout.ts";
export { sample, type SampleOptions } from "./lib/sample/sample.ts";
export { localSampler, type Sampler } from "./lib/sample/sampler.ts";
export { greedy, type GreedyOptions } from "./lib/sample/greedy.ts";
export {
  tokenLogProbs,
  type TokenLogProbsAndEntropy,
  tokenLogProbsAndEntropy,
  type TokenLogProbsOptions,
} from "./lib/sample/token_log_probs.ts";
export {
  HEAD_CHUNK_FLOATS,
  headLogits,
  type HeadLogProbs,
  headLogProbs,
  type HeadLogProbsOptions,
  policyHeadLogProbs,
} from "./lib/models/lm_head.ts";
export { tokenValues } from "./lib/sample/token_values.ts";
export {
  type Continuations,
  type ContinuationSampler,
  continueFrom,
  type ContinueFromOptions,
  type Prefix,
} from "./lib/sample/continue_from.ts";
export {
  type EnumeratedContext,
  type EnumeratedResponse,
  type EnumerateOptions,
  enumerateResponses,
  type ResponseSpace,
} from "./lib/theory/enumerate_responses.ts";
export {
  flattenGradient,
  type SequenceContext,
  type SequencePolicy,
} from "./lib/theory/sequence_policy.ts";
export { createTabularPolicy, type TabularPolicyOptions } from "./lib/theory/tabular_policy.ts";
export { transformerSequencePolicy } from "./lib/theory/transformer_policy.ts";
export { responseProbabilities, tokenProbabilities } from "./lib/theory/token_probabilities.ts";
export {
  greedyResponse,
  type ResponsePath,
  sampleCompletion,
  type TokenMeter,
} from "./lib/theory/exact_sampling.ts";
export {
  type BudgetError,
  type EstimateCost,
  estimateCost,
  relativeMseAtBudget,
} from "./lib/theory/cost_frontier.ts";
export {
  drawTokenRewards,
  type DrawTokenRewardsOptions,
  responseReward,
  rewardToGo,
  type TokenRewards,
} from "./lib/theory/token_rewards.ts";
export { type ExactGradient, exactGradient, exactObjective } from "./lib/theory/exact_objective.ts";
export { type ExactValues, exactValues } from "./lib/theory/exact_values.ts";
export {
  projectCoefficients,
  type ScoreJacobian,
  scoreJacobian,
} from "./lib/theory/score_jacobian.ts";
export {
  type EstimationProblem,
  exactAdvantageEstimator,
  type Expectation,
  type GradientEstimator,
  greedyBaselineEstimator,
  groupRelativeEstimator,
  leaveOneOutEstimator,
  prefixValueEstimator,
  type PrefixValueEstimatorOptions,
  rewardToGoEstimator,
  theoremEstimators,
  zeroRewardEstimator,
} from "./lib/theory/estimators.ts";
export { asShippedEstimators } from "./lib/theory/as_shipped.ts";
export {
  biasTest,
  type BiasTestResult,
  type EstimateSummary,
  summarizeEstimates,
} from "./lib/theory/bias_test.ts";
export {
  type EstimatorReport,
  runTheoremCheck,
  type TheoremCheckOptions,
  type TheoremCheckResult,
} from "./lib/theory/theorem_check.ts";
export { plot, type PlotDisplay, type PlotOptions } from "./lib/report/plot.ts";
export {
  formatNumber,
  table,
  type TableDisplay,
  type TableOptions,
  type TableRow,
} from "./lib/report/table.ts";
export {
  type LiveTraining,
  liveTraining,
  type LiveTrainingOptions,
  type ProgressMode,
  type StepCallbacks,
  type StepMetrics,
  TextProgress,
  type TextProgressOptions,
} from "./lib/report/live_training.ts";
export {
  type FigureImageOptions,
  type FigureRenderer,
  type FigureRendererOptions,
  figureToImage,
  findChromium,
  openFigureRenderer,
} from "./lib/report/figure_to_image.ts";
export {
  type HtmlReportOptions,
  renderHtmlReport,
  type ReportSection,
  writeHtmlReport,
} from "./lib/report/html_report.ts";
export {
  type DataArray,
  type Datum,
  type Figure,
  type Layout,
  type Trace,
  validateFigure,
} from "./lib/report/figure.ts";
export {
  type Displayable,
  isJupyter,
  jupyterDisplaySymbol,
  type MediaBundle,
} from "./lib/report/display.ts";
export { resetPlotlyInlining } from "./lib/report/plotly_html.ts";
export { type RewardFn, score, type ScoreOptions, type ScoreResult } from "./lib/score/score.ts";
export {
  klShapedTokenRewards,
  type KlShapedTokenRewardsOptions,
} from "./lib/score/kl_shaped_rewards.ts";
export { rewardModelFn } from "./lib/score/reward_model.ts";
export { remoteReward, type RemoteRewardOptions } from "./lib/score/remote_reward.ts";
export {
  type RemoteSampler,
  remoteSampler,
  type RemoteSamplerOptions,
} from "./lib/sample/remote_sampler.ts";
export {
  checkServerModel,
  type ServerModelExpectation,
  type ServerModelInfo,
} from "./lib/sample/server_model_check.ts";
export {
  type CompletionExpectation,
  type CompletionRows,
  completionRows,
} from "./lib/sample/completion_choices.ts";
export {
  type ServerClient,
  serverClient,
  type ServerClientOptions,
  ServerError,
  type ServerErrorKind,
  type ServerRequest,
  type ServerRetry,
} from "./lib/remote/server_client.ts";
export { type ConcurrencyLimit, concurrencyLimit } from "./lib/remote/concurrency.ts";
export { addition } from "./lib/tasks/addition.ts";
export { sortDigits } from "./lib/tasks/sort_digits.ts";
export {
  createTokenRewardChain,
  tokenRewardChain,
  type TokenRewardChainOptions,
  type TokenRewardChainTask,
  tokenRewards,
} from "./lib/tasks/token_reward_chain.ts";
export {
  createVigenereCipher,
  vigenereCipher,
  type VigenereCipherOptions,
  type VigenereCipherTask,
} from "./lib/tasks/vigenere_cipher.ts";
export { TASK_NAMES, taskByName } from "./lib/tasks/task_by_name.ts";
export {
  charTokenizer,
  type CharTokenizerOptions,
  type Example,
  type Task,
  type Tokenizer,
} from "./lib/tasks/task.ts";
export {
  defaultPolicyConfig,
  type DefaultPolicyConfigOptions,
} from "./lib/tasks/default_policy_config.ts";
export {
  decodeSafetensors,
  type DecodeSafetensorsOptions,
  encodeSafetensors,
  FLOAT_DTYPES,
  parseSafetensorsHeader,
  readSafetensorsFloat32,
  readSafetensorsHeader,
  type SafetensorsData,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsHeaderOptions,
  type SafetensorsTensor,
  toFloat32,
} from "./lib/io/safetensors.ts";
export { committedDirectory, writeDirectoryAtomically } from "./lib/io/atomic_directory.ts";
export {
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointConfig,
  checkpointFiles,
  loadCheckpoint,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type OptimizerWeight,
  saveCheckpoint,
  type SaveCheckpointOptions,
  TREPO_VERSION,
} from "./lib/policy/checkpoint.ts";
export type { ModelWeights, OptimizerConfigs, RngStates } from "./lib/policy/training_state.ts";
export {
  evaluateAccuracy,
  type EvaluateOptions,
  type EvaluateResult,
} from "./lib/algorithms/evaluate.ts";
export {
  supervisedFineTune,
  type SupervisedFineTuneOptions,
  type SupervisedFineTuneResult,
  supervisedLoss,
} from "./lib/algorithms/supervised_fine_tune.ts";
export {
  ALGORITHM_NAMES,
  algorithmByName,
  ALGORITHMS,
  checkResponseBudget,
  type ModelAccount,
  readRunState,
  responseBudget,
  type RunState,
  type StepRecord,
  train,
  type TrainOptions,
  type TrainResult,
} from "./lib/algorithms/train.ts";
export {
  claimRunFolder,
  type ClaimRunFolderOptions,
  readRunLock,
  RUN_ENTRIES,
  RUN_LOCK,
  type RunFolder,
  type RunLockHolder,
} from "./lib/algorithms/run_folder.ts";
export {
  type Algorithm,
  type AlgorithmName,
  type ConfigSpec,
  type FieldSpec,
  resolveConfig,
  RL_CONFIG_SPEC,
  type RlConfig,
  type StepBatch,
  type StepFn,
  type StepMetrics as AlgorithmStepMetrics,
  type StepState,
} from "./lib/algorithms/step.ts";
export { sampleResponses, type Scored } from "./lib/algorithms/rollout.ts";
export {
  aggregationNormalizer,
  clippedPolicyLoss,
  type PolicyLossFn,
  type PolicyLossInputs,
  policyObjective,
  type PolicyObjectiveOptions,
  scoreFunctionPolicyLoss,
} from "./lib/algorithms/objective.ts";
export { type PolicyUpdateInputs, updatePolicy } from "./lib/algorithms/policy_update.ts";
export {
  onEveryToken,
  type ResponseAdvantages,
  type ResponseLevelRecipe,
  responseLevelStep,
} from "./lib/algorithms/response_level_step.ts";
export {
  applyUpdate,
  type ApplyUpdateOptions,
  type UpdateResult,
} from "./lib/algorithms/update.ts";
export {
  defaultGrpoConfig,
  drGrpo,
  drGrpoConfig,
  grpo,
  grpoAdvantages,
  type GrpoConfig,
  grpoStep,
} from "./lib/algorithms/grpo.ts";
export {
  defaultPpoConfig,
  ppo,
  type PpoAdvantageInputs,
  ppoAdvantages,
  type PpoConfig,
  ppoStep,
} from "./lib/algorithms/ppo.ts";
export {
  defaultRemaxConfig,
  remax,
  remaxAdvantages,
  type RemaxConfig,
  remaxStep,
} from "./lib/algorithms/remax.ts";
export {
  defaultRlooConfig,
  rloo,
  rlooAdvantages,
  type RlooConfig,
  rlooStep,
} from "./lib/algorithms/rloo.ts";
export {
  defaultReinforceConfig,
  reinforce,
  type ReinforceConfig,
  reinforceStep,
} from "./lib/algorithms/reinforce.ts";
export {
  defaultTrepoConfig,
  samplePrefixPositions,
  trepo,
  type TrepoAdvantageOptions,
  type TrepoAdvantages,
  trepoAdvantages,
  type TrepoConfig,
  trepoStep,
} from "./lib/algorithms/trepo.ts";
export {
  pushCheckpoint,
  type PushCheckpointOptions,
  type PushCheckpointResult,
} from "./lib/hub/push_checkpoint.ts";
export { pullCheckpoint, type PullCheckpointOptions } from "./lib/hub/pull_checkpoint.ts";
export {
  loadPrompts,
  type LoadPromptsOptions,
  parsePrompts,
  type PromptFields,
} from "./lib/hub/load_prompts.ts";
export {
  extractFinalAnswer,
  normalizeAnswer,
  promptTask,
  type PromptTaskOptions,
} from "./lib/hub/prompt_task.ts";
export { checkRepoName, type HubRef, parseHubRef } from "./lib/hub/hub_ref.ts";
export { HubError, type HubErrorKind } from "./lib/hub/hub_error.ts";
export { checkpointModelCard, type ModelCardInput } from "./lib/hub/model_card.ts";
export {
  setTypedKernels,
  type TypedKernelMode,
  useTypedKernels,
} from "./lib/policy/causal_attention.ts";
export {
  accuracyCurve,
  COMPARE_METRICS,
  type CompareRecord,
  type CompareRow,
  type CompareRun,
  type CompareSection,
  compareSection,
  type CurvePoint,
  type HeldModel,
  meanCurve,
  type MeanCurvePoint,
  type MeanStd,
  meanStd,
  metricCurve,
  metricMean,
  type MetricPoint,
  type StepsToThreshold,
  stepsToThreshold,
  summarizeRuns,
} from "./lib/experiments/compare_summary.ts";
export {
  type CompareRunOptions,
  peakResidentMemoryMb,
  promptsDigest,
  runComparison,
} from "./lib/experiments/compare_run.ts";
export {
  accuracyPanels,
  ALGORITHM_COLORS,
  algorithmColor,
  compareFigure,
  gridFigure,
  metricLabel,
  type Panel,
  signalPanels,
} from "./lib/experiments/compare_figures.ts";
export { curveAtTokens, type PointAtTokens } from "./lib/experiments/curve_at_tokens.ts";
export {
  type PairedDifference,
  pairedDifference,
  tCritical95,
} from "./lib/experiments/paired_difference.ts";
export {
  type BudgetComparison,
  type BudgetOptions,
  type BudgetRow,
  budgetVerdict,
  compareAtEqualTokens,
  compareAtEqualUpdates,
} from "./lib/experiments/budget_comparison.ts";
export {
  evaluateSampledReward,
  type SampledRewardOptions,
  type SampledRewardResult,
} from "./lib/experiments/sampled_reward.ts";
export { type StartSignal, startSignal } from "./lib/experiments/start_signal.ts";
export { setSimdKernels, simdKernelsAvailable } from "./lib/policy/attention_simd.ts";
export { heatmapFigure, type HeatmapOptions } from "./lib/report/heatmap.ts";
export {
  loadPretrainedFolder,
  modelFamily,
  type Pretrained,
  savePretrained,
  SUPPORTED_MODEL_TYPES,
} from "./lib/models/pretrained.ts";
export { loadPretrained, type LoadPretrainedOptions } from "./lib/hub/load_pretrained.ts";
export {
  type ChatMessage,
  type ChatTemplateOptions,
  createHfTokenizer,
  type HfTokenizer,
  type TokenizerFiles,
} from "./lib/models/hf_tokenizer.ts";
export type { HfConfig, ModelFamily } from "./lib/models/hf_config.ts";
export type { Architecture, LinearHead, ProjectionLayout } from "./lib/policy/architecture.ts";
export {
  type LoraAdapter,
  loraAdapterOf,
  type LoraArchitecture,
  type LoraOptions,
  loraPolicy,
  mergeAdapter,
} from "./lib/models/lora.ts";
export {
  loadAdapter,
  type LoadAdapterOptions,
  saveAdapter,
  type SaveAdapterOptions,
} from "./lib/models/peft_adapter.ts";
export type { KeyValueCache, TrunkOptions, TrunkOutput } from "./lib/policy/layers.ts";
