/**
 * irqchip: a deterministic x86 interrupt-controller emulator. Start with {@link Platform} (an
 * emulator with its own CPU), {@link LocalApic}, {@link IoApic} and {@link PicPair} (single
 * devices) or {@link Machine} (vCPUs, injection backends and virtual time); the guides are the
 * documents listed beside this page. Three more entry points hold what not every program needs:
 * `irqchip/registers` (the register offsets and bit fields of the manuals, as named constants),
 * `irqchip/svg` (the SVG timeline of a trace) and `irqchip/scenarios` (the `irqchip` command's
 * built-in scenarios and reports).
 *
 * @module irqchip
 */
export { SnapshotError } from './errors.js';
export type { Clock } from './time/clock.js';
export { Scheduler, MAX_TIME_NS } from './time/scheduler.js';
export { HostClock } from './time/host-clock.js';
export type { HostClockOptions, HostTimeUnit } from './time/host-clock.js';
export { mulDivFloor, mulDivCeil } from './time/ratio.js';
export { DeliveryMode, DestMode, XAPIC_BROADCAST, X2APIC_BROADCAST } from './apic/message.js';
export type { InterruptRouter } from './apic/message.js';
export { LocalApic, ACCEL_NOT_TAKEN, ACCEL_POSTED, ACCEL_COALESCED, RESET_PRESETS } from './apic/local-apic.js';
export type {
  ApicAccel,
  ApicBusPort,
  ApicMode,
  CpuRunState,
  LapicEvent,
  LocalApicOptions,
  LocalApicStats,
  ResetPreset,
} from './apic/local-apic.js';
export { ApicPage, highestVector } from './apic/page.js';
export { MMIO_WINDOW_BYTES } from './apic/mmio.js';
export type { MmioSize } from './apic/mmio.js';
export { checkIcr, IcrCheck } from './apic/icr.js';
export { timerDivisor } from './apic/timer.js';
export { IoApic, DEFAULT_STORM_THRESHOLD, DEFAULT_STORM_DELAY_NS } from './ioapic/ioapic.js';
export type { IoApicOptions, IoApicStats } from './ioapic/ioapic.js';
export { Pic8259 } from './pic/pic8259.js';
export type { PicRole, Pic8259Options } from './pic/pic8259.js';
export { PicPair } from './pic/pic-pair.js';
export type { PicPairOptions } from './pic/pic-pair.js';
export { ApicBus } from './bus/apic-bus.js';
export type { ApicBusOptions, ApicBusStats, EoiListener } from './bus/apic-bus.js';
export { arbitrate, LOWEST_PRIORITY_POLICIES } from './bus/lowest-priority.js';
export type { LowestPriorityPolicy, ArbitrationCandidate } from './bus/lowest-priority.js';
export { decodeMsi, isMsiAddress } from './bus/msi.js';
export type { MsiMessage } from './bus/msi.js';
export { Platform, ISA_IRQ0_PIN, PIC_IOAPIC_PIN } from './platform/platform.js';
export type { CpuEvent, PlatformIoApicOptions, PlatformLapicOptions, PlatformOptions } from './platform/platform.js';
export type { FirmwareWiring, IsaOverride, IsaPolarity, IsaTrigger, MadtOverride, MpIoInterrupt, MpLocalInterrupt, PicOutput, PicOutputRoute } from './platform/wiring.js';
export { explainVector } from './platform/explain.js';
export type { Explanation, ExplainReason } from './platform/explain.js';
export { Vcpu } from './guest/vcpu.js';
export type { GuestApicAccess, VcpuEnv, VcpuState, VmEnterInstr, NestedExitInfo } from './guest/vcpu.js';
export { validateProgram, compare } from './guest/program.js';
export type { GuestProgram, Instr, Cmp, IpiMode, IpiShorthand, NestedControls } from './guest/program.js';
export { combineExceptions, exceptionClass, hasErrorCode } from './guest/exceptions.js';
export type { Combination, ExceptionClass } from './guest/exceptions.js';
export { BACKEND_NAMES, EXIT_REASONS } from './inject/backend.js';
export type { BackendName, BackendOptions, ExitReason, InjectionBackend, BackendHost, PendingKind, DeliverySource, VectoringInfo } from './inject/backend.js';
export { SvmEventBackend } from './inject/svm-event.js';
export { SvmVintrBackend } from './inject/svm-vintr.js';
export type { SvmVintrOptions } from './inject/svm-vintr.js';
export { VmxEventBackend } from './inject/vmx-event.js';
export { VmxVidBackend } from './inject/vmx-vid.js';
export { VmxPostedBackend } from './inject/vmx-posted.js';
export { NESTED_EXIT_REASONS, NESTED_EXIT_CODES } from './inject/nested-controls.js';
export type { NestedExitReason, NestedIsa, L1Controls } from './inject/nested-controls.js';
export type { L1InterruptAction } from './inject/nested-gate.js';
export type { NestedStatus, NestedWaitReason, NestedStats } from './inject/nested.js';
export type { NestedCounters } from './inject/nested-state.js';
export { Machine } from './machine/machine.js';
export type { MachineOptions, MachineStats, VcpuStats, RunResult, RunStop, DeviceAction } from './machine/machine.js';
export { DEFAULT_COSTS, resolveCosts } from './machine/costs.js';
export type { Costs } from './machine/costs.js';
export { DeliveryChecker } from './machine/checker.js';
export type { CheckerCounts, CheckerVerdict } from './machine/checker.js';
export { Trace } from './trace/trace.js';
export type { TraceEvent, TraceKind, TraceOptions } from './trace/trace.js';
export { toChromeTrace, CHROME_PID, chromeTid } from './trace/chrome.js';
export type { ChromeTrace, ChromeTraceEvent, ChromeTraceOptions, ChromeArgs } from './trace/chrome.js';
export { buildSpans, irrIsrCounters } from './trace/spans.js';
export type { Span, SpanKind, CounterSample } from './trace/spans.js';
export { listSections, inspectSnapshot, snapshotTime, FORMAT_MAJOR, FORMAT_MINOR, LIBRARY_VERSION } from './codec/container.js';
export type { SectionInfo, SnapshotInfo, RestoreOptions, TimeMode } from './codec/container.js';
