import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
C,H,W=mean.shape
lm=mean.mean(0)
g=mean[1]; d=(g[:,:-1]-g[:,1:]); ngm=1.4826*np.median(np.abs(d-np.median(d)))/np.sqrt(2)
mx=nd.maximum_filter(lm,size=5)
pk=[(y,x) for y,x in np.argwhere((lm==mx)&(lm>50*ngm)) if 40<=y<H-40 and 40<=x<W-40]
sel=[(y,x) for i,(y,x) in enumerate(pk) if not any(j!=i and np.hypot(y2-y,x2-x)<=20 for j,(y2,x2) in enumerate(pk)) and lm[y,x]<15000]
print(len(sel),"stars")
for name,a in (("mean",mean),("deconv",dec)):
    for ch in range(3):
        acc=np.zeros((21,21))
        for y,x in sel:
            st=a[ch,y-10:y+11,x-10:x+11]
            bg=np.median(np.concatenate([st[0],st[-1],st[:,0],st[:,-1]]))
            acc+=(st-bg)/(st-bg)[8:13,8:13].sum()
        acc/=len(sel)
        h=[acc[10,10+k]+acc[10,10-k] for k in range(1,8)]
        v=[acc[10+k,10]+acc[10-k,10] for k in range(1,8)]
        print(name,ch,"horiz-vert (x1e3) at 1..7 px:", " ".join("%6.2f"%(1e3*(hh-vv)) for hh,vv in zip(h,v)), " | horiz", " ".join("%6.2f"%(1e3*hh) for hh in h))
