// Type declarations of @basin/client (src/index.js).
import type { ChannelCredentials, ChannelOptions, Metadata } from '@grpc/grpc-js';

/** Numeric gRPC status codes by name (grpc.status). */
export declare const Status: Readonly<Record<StatusCodeName, number>>;
/** Status names by numeric code. */
export declare const StatusName: Readonly<Record<number, StatusCodeName>>;
export declare const DEFAULT_CHUNK_BYTES: number;

export type StatusCodeName =
  | 'OK' | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND'
  | 'ALREADY_EXISTS' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION' | 'ABORTED'
  | 'OUT_OF_RANGE' | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS' | 'UNAUTHENTICATED';

/** A failed call: the gRPC status code (numeric and by name) and the server's message. */
export declare class BasinError extends Error {
  constructor(code: number, message: string, options?: { cause?: unknown; metadata?: unknown });
  readonly name: 'BasinError';
  readonly code: number;
  readonly codeName: StatusCodeName | string;
  readonly details: string;
  readonly metadata?: unknown;
}

// --- tensors ---------------------------------------------------------------------------------------

export type Numbers = Float32Array | Float64Array | ArrayLike<number>;
/** A tensor: a 1-D array, or a shape with (optional, zeros if absent) row-major data. */
export type TensorInput = Numbers | number | { shape?: readonly number[]; data?: Numbers };
/** Named tensors; object key order is the layout order (use a Map or entries for integer-like names). */
export type TensorsInput =
  | Record<string, TensorInput>
  | Map<string, TensorInput>
  | ReadonlyArray<readonly [string, TensorInput]>;

export interface Tensor { shape: number[]; data: Float32Array; }
export type Tensors = Record<string, Tensor>;

export interface LayoutEntry { name: string; shape: number[]; size: number; offset: number; }

// --- configuration (camelCase or snake_case keys; enums by full or short name) -----------------------

export type ScheduleKind = 'constant' | 'step' | 'cosine' | 'cyclical_cosine' | 'polynomial' | `KIND_${string}`;
export interface Schedule {
  kind?: ScheduleKind; stepSize?: number; factor?: number; total?: number; cycles?: number;
  finalValue?: number; offset?: number; power?: number;
}
export interface SgdConfig {
  lr?: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number; lrSchedule?: Schedule;
}
export interface SgldConfig {
  lr?: number; temperature?: number; numData?: number; weightDecay?: number;
  lrConvention?: 'alpha' | 'welling_teh' | `LR_CONVENTION_${string}`; lrSchedule?: Schedule;
}
export interface SamConfig extends SgdConfig { rho?: number; adaptive?: boolean; eps?: number; }
export interface EntropySgdConfig {
  variant?: 'lua' | 'paper' | 'pytorch' | `VARIANT_${string}`;
  L?: number; gamma?: number; scoping?: number; innerLr?: number; noise?: number;
  noiseScaling?: 'code' | 'paper' | `NOISE_SCALING_${string}`;
  ema?: number; momentum?: number; nesterov?: boolean; weightDecay?: number; lr?: number;
  lrSchedule?: Schedule; extraTickAtX?: boolean;
}
export interface EmcmcConfig {
  form?: 'code' | 'paper' | `FORM_${string}`;
  lr?: number; eta?: number; temperature?: number; numData?: number; weightDecay?: number;
  anchorWeightDecay?: boolean; momentum?: number; lrSchedule?: Schedule;
}
export type OptimizerConfig =
  | { sgd: SgdConfig } | { sgld: SgldConfig } | { sam: SamConfig }
  | { entropySgd: EntropySgdConfig } | { entropy_sgd: EntropySgdConfig } | { emcmc: EmcmcConfig };

export declare function SGD(config?: SgdConfig): { sgd: SgdConfig };
export declare function SGLD(config?: SgldConfig): { sgld: SgldConfig };
export declare function SAM(config?: SamConfig): { sam: SamConfig };
export declare function EntropySGD(config?: EntropySgdConfig): { entropySgd: EntropySgdConfig };
export declare function EMCMC(config?: EmcmcConfig): { emcmc: EmcmcConfig };

export interface SampleCollection {
  which?: 'none' | 'model' | 'anchor' | 'both' | `WHICH_${string}`;
  burnIn?: number; thin?: number; cycleLength?: number; cycleWindow?: number; maxSamples?: number;
}
export interface WorkerPolicy {
  numWorkers?: number; mode?: 'sync' | 'async' | `MODE_${string}`; quorum?: number; maxStaleness?: number;
}
export type DTypeName = 'f32' | 'f64' | 'bf16' | 'f16' | `DTYPE_${string}`;

export interface CreateSessionOptions {
  /** The layout, in order; tensors with data give the initial values (else zeros). */
  params: TensorsInput;
  optimizer: OptimizerConfig;
  seed?: number | bigint | string;
  stateDtype?: 'f32' | 'f64' | 'DTYPE_F32' | 'DTYPE_F64';
  samples?: SampleCollection;
  workers?: WorkerPolicy;
  metricsRun?: string;
  requestId?: string;
  /** NaN or Inf in a gradient or loss: 'reject' (INVALID_ARGUMENT, the default) or 'skip' (ack SKIPPED, same tick again). */
  nonfinitePolicy?: 'reject' | 'skip' | `NONFINITE_POLICY_${string}`;
  /** The worker id this Session's Train stream attaches as. */
  workerId?: number;
}

// --- results -----------------------------------------------------------------------------------------

export interface QueryPoint {
  tick: number;
  step: number;
  phase: number;
  /** Ticks that must see the same minibatch (SAM's two) share this key. */
  minibatchKey: number;
  params: Tensors;
  /** Every tensor, flat in layout order (params' data are views into it). */
  values: Float32Array;
}
export interface TickAck { tick: number; outcome: 'APPLIED' | 'DUPLICATE' | 'DROPPED' | 'SKIPPED' | string; sessionTick: number; }
export interface SampleEntry { index: number; step: number; which: 'MODEL' | 'ANCHOR' | string; params?: Tensors; }
export interface SessionStats {
  tick: number; step: number; phase: number; ticksPerStep: number; lr: number; gamma: number;
  lastLoss: number; lastStepMeanLoss: number; lastGradientNorm: number; distanceToAnchor: number;
  samplesKept: number; samplesDropped: number; gradientsDropped: number; gradientsDuplicate: number;
  gradientsStaleApplied: number; gradientsSkipped: number;
}
/** The Session message (camelCase), as the server runs it: every default filled in. */
export interface SessionInfo {
  sessionId: string;
  spec: { tensors: { name: string; shape: number[] }[]; stateDtype: string; optimizer: Record<string, any>; [k: string]: any };
  tick: number; step: number; phase: number; ticksPerStep: number; numParameters: number; stateBytes: number;
}
export type ParameterSetName =
  | 'PARAMETER_SET_QUERY' | 'PARAMETER_SET_MODEL' | 'PARAMETER_SET_ANCHOR' | 'PARAMETER_SET_SAMPLE';

export declare class Session {
  readonly id: string;
  readonly info: SessionInfo;
  readonly layout: LayoutEntry[];
  readonly ticksPerStep: number;
  readonly workerId: number;
  readonly client: Client;
  readonly lastAck: TickAck | null;
  /** Waits for the next query point (attaching a Train stream on first use). */
  query(): Promise<QueryPoint>;
  /** Gradient (named tensors or one flat array in layout order) and loss for the last query point. */
  tell(grads: TensorsInput | Tensors | Numbers, loss: number, options?: { batchSize?: number; tick?: number }): Promise<TickAck>;
  model(): Promise<Tensors>;
  anchor(): Promise<Tensors>;
  queryPoint(): Promise<Tensors>;
  sample(index: number): Promise<Tensors>;
  samples(options?: { withParams?: boolean }): Promise<SampleEntry[] & { dropped: number }>;
  stats(): Promise<SessionStats>;
  refresh(): Promise<SessionInfo>;
  setModel(params: TensorsInput): Promise<SessionInfo>;
  setAnchor(params: TensorsInput): Promise<SessionInfo>;
  /** Ends the Train stream cleanly; the session lives on. */
  close(): Promise<void>;
  /** Deletes the session on the server. */
  delete(): Promise<void>;
}

export interface ClientOptions {
  /** Seconds per unary call (default 30; 0 for none). Train streams have no deadline. */
  timeout?: number;
  /** Directory holding basin/v1/*.proto (default: the repository's proto/, or $BASIN_PROTO_DIR). */
  protoDir?: string;
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** Largest TensorChunk sent or asked for (default 1 MiB). */
  chunkBytes?: number;
  /** Sent as `authorization: Bearer <token>` on every call (a server with --auth_tokens_file). */
  token?: string;
  /** A TLS channel instead of plaintext (not with `credentials`). */
  tls?: TlsOptions;
}

export interface TlsOptions {
  /** PEM file of the CA(s) to trust (default: the system's). */
  rootCert?: string;
  /** PEM files of a client certificate and its key, for mutual TLS. */
  cert?: string;
  key?: string;
  /** The name to check the server's certificate against, if not the target's host. */
  serverName?: string;
}

export declare class Client {
  constructor(target: string, options?: ClientOptions);
  readonly target: string;
  readonly timeout: number;
  /** The metadata every call carries (the bearer token, if any). */
  metadata(): Metadata;
  /** grpc.health.v1 status: 'SERVING', 'NOT_SERVING', ... */
  health(service?: string): Promise<string>;
  createSession(options: CreateSessionOptions): Promise<Session>;
  /** A handle on an existing session. */
  session(sessionId: string, options?: { workerId?: number }): Promise<Session>;
  listSessions(): Promise<SessionInfo[]>;
  deleteSession(sessionId: string): Promise<void>;
  getParameters(session: Session | string, which: ParameterSetName, sampleIndex?: number): Promise<Tensors>;
  putParameters(session: Session | string, which: 'PARAMETER_SET_MODEL' | 'PARAMETER_SET_ANCHOR', params: TensorsInput): Promise<SessionInfo>;
  /** A unary basin.v1.Optimizer RPC with a snake_case request object. */
  unary(method: string, request: object): Promise<any>;
  close(): void;
}

export declare function loadProtos(protoDir?: string): { definition: object; protoDir: string };
export declare function toMessage(definition: object, typeName: string, value: object, where?: string): object;

export default Client;
