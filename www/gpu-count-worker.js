// Measurement instrumentation, not part of the package: a module worker that counts
// the WebGPU calls the detector's worker makes, then runs the package's own worker
// (pkg/worker.js) unchanged. Used as `InctrlDetector.create({workerUrl})` through
// gpu-counts.js (the bench page's `?counts=1`, tests/browser/gpu-counts.test.mjs).
//
// The WebGPU prototypes of this worker scope are patched before pkg/worker.js and
// the WebAssembly module are imported, so every call the module makes through its
// bindings passes through here. The page reads and resets the counters over the
// BroadcastChannel named by this script's `?channel=` parameter:
// {request, op: 'reset' | 'read'} in, {reply: request, counts} out. The worker's own
// message port is not used for this, so its protocol is untouched.

const COUNTERS = [
  'dispatches', // GPUComputePassEncoder.dispatchWorkgroups
  'indirectDispatches', // GPUComputePassEncoder.dispatchWorkgroupsIndirect
  'computePasses', // GPUCommandEncoder.beginComputePass
  'commandEncoders', // GPUDevice.createCommandEncoder
  'submits', // GPUQueue.submit
  'commandBuffers', // command buffers in those submits
  'buffers', // GPUDevice.createBuffer
  'bufferBytes', // their sizes
  'buffersMappedAtCreation', // of those, created mapped (written through getMappedRange)
  'buffersDestroyed', // GPUBuffer.destroy
  'uploads', // GPUQueue.writeBuffer: host -> device
  'uploadBytes',
  'readbacks', // GPUBuffer.mapAsync with MAP_READ: device -> host
  'readbackBytes',
  'readbackRounds', // readbacks begun after a submit: device->host round trips
  'mapsInFlightPeak', // most MAP_READ mappings pending at once
  'writeMaps', // GPUBuffer.mapAsync with MAP_WRITE (staging uploads)
  'copies', // GPUCommandEncoder.copyBufferToBuffer
  'copyBytes',
  'pipelines', // GPUDevice.createComputePipeline(Async): a shader compile each
  'shaderModules', // GPUDevice.createShaderModule
  'bindGroups', // GPUDevice.createBindGroup
];

function zero() {
  const counts = Object.fromEntries(COUNTERS.map((name) => [name, 0]));
  // Bytes of each writeBuffer call, in call order (tells the image from small extras).
  counts.uploadSizes = [];
  return counts;
}

let counts = zero();
/** Whether a submit happened since the last readback began. */
let submitted = true;
/** MAP_READ mappings not yet settled. */
let mapsInFlight = 0;

/** Replaces `Type.prototype[name]` with a wrapper that calls `count(this, args)` first. */
function wrap(type, name, count) {
  const proto = self[type]?.prototype;
  const original = proto?.[name];
  if (typeof original !== 'function') return;
  proto[name] = function counted(...args) {
    count(this, args);
    return original.apply(this, args);
  };
}

/** Bytes a writeBuffer(buffer, offset, data, dataOffset?, size?) call uploads. */
function writeBytes([, , data, dataOffset = 0, size]) {
  // A typed array's dataOffset and size count elements; an ArrayBuffer's, bytes.
  const unit = ArrayBuffer.isView(data) ? (data.BYTES_PER_ELEMENT ?? 1) : 1;
  const length = ArrayBuffer.isView(data) ? data.byteLength / unit : data.byteLength;
  return (size ?? length - dataOffset) * unit;
}

const MAP_READ = 1;
const MAP_WRITE = 2;

wrap('GPUComputePassEncoder', 'dispatchWorkgroups', () => { counts.dispatches += 1; });
wrap('GPUComputePassEncoder', 'dispatchWorkgroupsIndirect', () => { counts.indirectDispatches += 1; });
wrap('GPUCommandEncoder', 'beginComputePass', () => { counts.computePasses += 1; });
wrap('GPUDevice', 'createCommandEncoder', () => { counts.commandEncoders += 1; });
wrap('GPUQueue', 'submit', (_, [buffers]) => {
  counts.submits += 1;
  submitted = true;
  counts.commandBuffers += buffers?.length ?? 0;
});
wrap('GPUDevice', 'createBuffer', (_, [descriptor]) => {
  counts.buffers += 1;
  counts.bufferBytes += Number(descriptor?.size ?? 0);
  if (descriptor?.mappedAtCreation) counts.buffersMappedAtCreation += 1;
});
wrap('GPUBuffer', 'destroy', () => { counts.buffersDestroyed += 1; });
wrap('GPUQueue', 'writeBuffer', (_, args) => {
  const bytes = writeBytes(args);
  counts.uploads += 1;
  counts.uploadBytes += bytes;
  counts.uploadSizes.push(bytes);
});
const mapAsync = self.GPUBuffer?.prototype.mapAsync;
if (mapAsync) GPUBuffer.prototype.mapAsync = function counted(mode, offset = 0, size = undefined) {
  if (mode & MAP_WRITE) counts.writeMaps += 1;
  if (!(mode & MAP_READ)) return mapAsync.apply(this, arguments);
  counts.readbacks += 1;
  counts.readbackBytes += size ?? Number(this.size) - offset;
  if (submitted) counts.readbackRounds += 1;
  submitted = false;
  mapsInFlight += 1;
  counts.mapsInFlightPeak = Math.max(counts.mapsInFlightPeak, mapsInFlight);
  const settle = () => { mapsInFlight -= 1; };
  const mapped = mapAsync.apply(this, arguments);
  mapped.then(settle, settle);
  return mapped;
};
wrap('GPUCommandEncoder', 'copyBufferToBuffer', (_, args) => {
  counts.copies += 1;
  // (source, sourceOffset, destination, destinationOffset, size) or (source, destination, size?)
  const size = args.length >= 5 ? args[4] : typeof args[1] === 'number' ? undefined : args[2];
  counts.copyBytes += Number(size ?? 0);
});
wrap('GPUDevice', 'createComputePipeline', () => { counts.pipelines += 1; });
wrap('GPUDevice', 'createComputePipelineAsync', () => { counts.pipelines += 1; });
wrap('GPUDevice', 'createShaderModule', () => { counts.shaderModules += 1; });
wrap('GPUDevice', 'createBindGroup', () => { counts.bindGroups += 1; });

const channelName = new URLSearchParams(self.location.search).get('channel') ?? 'inctrl-gpu-counts';
const channel = new BroadcastChannel(channelName);
channel.onmessage = ({ data }) => {
  if (data?.request === undefined) return;
  const reply = { reply: data.request, counts: { ...counts, uploadSizes: [...counts.uploadSizes] } };
  if (data.op === 'reset') counts = zero();
  channel.postMessage(reply);
};

// The page's first request ('create') arrives while pkg/worker.js is still loading
// (messages are dispatched during the top-level await): hold messages until its
// handler is set, then hand them over in order.
const early = [];
let loaded = false;
self.addEventListener('message', (event) => {
  if (loaded) return;
  event.stopImmediatePropagation();
  early.push(event);
});

await import('./pkg/worker.js');
loaded = true;
for (const { data, ports } of early) self.dispatchEvent(new MessageEvent('message', { data, ports: [...ports] }));
